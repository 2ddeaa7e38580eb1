"""Administration and dead letters of the recorded cluster (nexus_tui/recorded.py), for the
snapshot tests of the admin and dead-letter screens: the same pure planners the live core uses
(core/cluster/admin_plan.py, `RedrivePlan.consider`), fed from the recorded snapshot instead of
a cluster's answers. Nothing is ever applied: `apply` and `run` refuse.

A picture source only, like recorded.py: no test that claims Kafka behaviour uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from core.cluster.admin import NotFound
from core.cluster.admin_plan import AdminPlan, ConfigValue
from core.cluster.change import Changes
from core.cluster.dead_letters import DeadLetter, DeadLetterSummary, dead_letter_topics
from core.cluster.group_admin import GroupAdmin
from core.cluster.redrive import (
    Progress,
    RedrivePlan,
    RedriveRequest,
    RedriveResult,
    progress_group,
)
from core.cluster.snapshot import ClusterSnapshot, GroupInfo, TopicInfo
from core.cluster.topic_admin import TopicAdmin
from core.config.settings import ConnectionSettings
from core.errors import ConfigError, NexusError
from core.messaging.subscriber import DLQ_HEADERS
from core.wire.envelope import Envelope
from core.wire.partitioner import partition_for_key

C = TypeVar("C", bound=Changes)

#: where each recorded config comes from (recorded.CONFIGS): retention is the topics' own
CONFIG_SOURCES = {"retention.ms": "dynamic"}
#: distinct root ids in the recorded topics' keys (what add-partitions' estimate counts)
ROOT_IDS = 600
#: dead letters of each recorded dead-letter topic already redriven
REDRIVEN = 10
_ERRORS = ("ValueError: card declined (simulated)",
           "TimeoutError: bank gateway did not answer within 2000 ms")


class RecordedChangeRefused(NexusError):
    """A recorded cluster is a picture: nothing is applied to it."""


def _refuse() -> RecordedChangeRefused:
    return RecordedChangeRefused("a recorded cluster: nothing is applied")


def _topic(snapshot: ClusterSnapshot, name: str) -> TopicInfo:
    info = snapshot.topics.get(name)
    if info is None:
        raise NotFound(f"topic {name} does not exist")
    return info


def recorded_keys(partitions: int, read_from: Mapping[int, int], ends: Mapping[int, int]
                  ) -> list[tuple[int, bytes | None]]:
    """(partition, key) of the records from `read_from` to `ends`: root ids of the client,
    each on the partition murmur2 over `partitions` puts it (as a Nexus publisher writes)."""
    pool: dict[int, list[bytes]] = {p: [] for p in range(partitions)}
    for i in range(ROOT_IDS):
        key = f"client.app.v1:{i}".encode()
        pool[partition_for_key(key, partitions)].append(key)
    return [(p, pool[p][offset % len(pool[p])] if pool[p] else None)
            for p in sorted(ends) for offset in range(read_from[p], ends[p])]


class RecordedTopicAdmin(TopicAdmin):
    """TopicAdmin's own plans, over a recorded snapshot: only what TopicAdmin reads from a
    cluster is replaced (names, snapshot, configs, recent keys); there is no broker to
    validate a plan, and nothing is applied."""

    def __init__(self, settings: ConnectionSettings, snapshot: ClusterSnapshot) -> None:
        super().__init__(settings)
        self.snapshot = snapshot

    async def _topic_names(self) -> Collection[str]:
        return self.snapshot.topics

    async def _snapshot(self, name: str, groups: bool) -> ClusterSnapshot:
        _topic(self.snapshot, name)  # NotFound, as on a cluster
        return self.snapshot

    async def configs(self, name: str) -> dict[str, ConfigValue]:
        return {k: ConfigValue(v, CONFIG_SOURCES.get(k, "default"))
                for k, v in _topic(self.snapshot, name).configs.items()}

    def _read_keys(self, name: str, read_from: Mapping[int, int], ends: Mapping[int, int]
                   ) -> list[tuple[int, bytes | None]]:
        return recorded_keys(len(_topic(self.snapshot, name).partitions), read_from, ends)

    async def _offsets_before(self, name: str, ends: Mapping[int, int],
                              before_time_ms: int) -> dict[int, int]:
        raise ConfigError("the recorded cluster keeps no record times: purge every record "
                          "or before offsets")

    async def _broker_check(self, request: Callable[[], Mapping[Any, Any]], what: str) -> None:
        return None  # no broker: the plan stands as the planner made it

    async def apply(self, plan: AdminPlan) -> dict[str, Any]:
        raise _refuse()


class RecordedGroupAdmin(GroupAdmin):
    """GroupAdmin's own plans, over a recorded snapshot's groups; nothing is applied."""

    def __init__(self, settings: ConnectionSettings, snapshot: ClusterSnapshot) -> None:
        super().__init__(settings)
        self.snapshot = snapshot

    async def _group(self, group: str) -> GroupInfo:
        info = self.snapshot.groups.get(group)
        if info is None:
            raise NotFound(f"group {group} does not exist")
        return info

    async def apply(self, plan: AdminPlan) -> dict[str, Any]:
        raise _refuse()


def recorded_changes(kind: type[C], settings: ConnectionSettings,
                     snapshot: ClusterSnapshot) -> C:
    """The recorded counterpart of `kind(settings)`."""
    if issubclass(kind, TopicAdmin):
        return cast(C, RecordedTopicAdmin(settings, snapshot))
    if issubclass(kind, GroupAdmin):
        return cast(C, RecordedGroupAdmin(settings, snapshot))
    raise TypeError(f"no recorded {kind.__name__}")


# ---- dead letters ------------------------------------------------------------------------------


def recorded_dead_letters(topic: str, end: int, newest_ms: int) -> list[DeadLetter]:
    """`end` dead letters of `topic` (one partition), one a minute up to `newest_ms`, as a
    nexus subscriber writes them: the failed request's envelope, the DLQ headers."""
    original = topic.removesuffix(".dlq")
    letters = []
    for i in range(end):
        ms = newest_ms - (end - 1 - i) * 60_000
        error = _ERRORS[1] if i % 4 == 3 else _ERRORS[0]
        root = f"client.app.v1:pay-{i}"
        envelope = Envelope(
            id=f"{original}:pay-{i}", root_id=root, request_id=f"{original}:pay-{i}",
            started_at=ms * 1_000_000 - 40_000_000, created_at=ms * 1_000_000 - 30_000_000,
            source_topic="client.app.v1", destination_topic=original,
            reply_to_topics=("client.app.replies.v1",), schema_version="1",
            payload={"order": f"o-{1000 + i}", "amount_cents": 1250 + 10 * i})
        failed_at = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
        values = (error, "3", original, str(i % 3), str(600 + i), failed_at)
        headers = tuple((name, value.encode())
                        for name, value in zip(DLQ_HEADERS, values, strict=True))
        letters.append(DeadLetter(topic, 0, i, ms, root.encode(), envelope.encode(), headers))
    return letters


class RecordedDeadLetters:
    """The dead letters of the recorded dead-letter topics (`DeadLetterStore`): the first
    `REDRIVEN` of each were redriven earlier; a redrive is planned, never run."""

    def __init__(self, settings: ConnectionSettings, snapshot: ClusterSnapshot) -> None:
        self.settings = settings
        self.snapshot = snapshot

    def summaries(self) -> list[DeadLetterSummary]:
        rows = []
        for topic in dead_letter_topics(self.snapshot.topics):
            summary = DeadLetterSummary(topic)
            for letter in self.letters(topic):
                summary.add(letter)
            summary.redriven = min(REDRIVEN, summary.records)
            rows.append(summary)
        return rows

    def letters(self, topic: str) -> list[DeadLetter]:
        records = sum(p.log_end or 0 for p in _topic(self.snapshot, topic).partitions)
        return recorded_dead_letters(topic, records,
                                     int(self.snapshot.taken_at * 1000))

    def plan(self, request: RedriveRequest) -> RedrivePlan:
        letters = self.letters(request.dlq_topic)
        done = min(REDRIVEN, len(letters))
        plan = RedrivePlan(request, progress_group(request.dlq_topic), {0: (0, len(letters))},
                           {0: done}, None)
        for letter in letters[done:]:
            plan.consider(letter)
        return plan

    def run(self, plan: RedrivePlan, progress: Progress | None = None) -> RedriveResult:
        raise _refuse()

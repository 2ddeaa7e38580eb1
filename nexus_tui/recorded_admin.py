"""Administration and dead letters of the recorded cluster (nexus_tui/recorded.py), for the
snapshot tests of the admin and dead-letter screens: the same pure planners the live core uses
(core/cluster/admin_plan.py, `RedrivePlan.consider`), fed from the recorded snapshot instead of
a cluster's answers. Nothing is ever applied: `apply` and `run` refuse.

A picture source only, like recorded.py: no test that claims Kafka behaviour uses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from core.cluster.admin import NotFound
from core.cluster.admin_plan import (
    RECENT_RECORDS,
    AdminPlan,
    ConfigValue,
    check_not_internal,
    check_partition_count,
    key_moves,
    plan_add_partitions,
    plan_alter,
    plan_create,
    plan_delete_group,
    plan_delete_offsets,
    plan_delete_topic,
    plan_purge,
    recent_ranges,
)
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
from core.cluster.snapshot import ClusterSnapshot, GroupInfo, GroupMember, TopicInfo
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


def _marks(info: TopicInfo) -> tuple[dict[int, int], dict[int, int]]:
    starts = {p.partition: p.log_start or 0 for p in info.partitions}
    ends = {p.partition: p.log_end or 0 for p in info.partitions}
    return starts, ends


def _who(member: GroupMember) -> str:
    return f"{member.client_id or member.member_id}@{member.host}"


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
    """TopicAdmin's plans over a recorded snapshot (no broker validation: there is none)."""

    def __init__(self, settings: ConnectionSettings, snapshot: ClusterSnapshot) -> None:
        super().__init__(settings)
        self.snapshot = snapshot

    async def plan_create(self, name: str, partitions: int, replication_factor: int | None,
                          configs: Mapping[str, str]) -> AdminPlan:
        return plan_create(name, partitions, replication_factor, configs, self.snapshot.topics)

    async def configs(self, name: str) -> dict[str, ConfigValue]:
        return {k: ConfigValue(v, CONFIG_SOURCES.get(k, "default"))
                for k, v in _topic(self.snapshot, name).configs.items()}

    async def plan_alter(self, name: str, to_set: Mapping[str, str],
                         to_delete: Sequence[str]) -> AdminPlan:
        return plan_alter(name, await self.configs(name), to_set, to_delete)

    async def plan_add_partitions(self, name: str, to: int,
                                  limit: int = RECENT_RECORDS) -> AdminPlan:
        info = _topic(self.snapshot, name)
        current = len(info.partitions)
        check_partition_count(name, current, to)
        starts, ends = _marks(info)
        read_from = recent_ranges(starts, ends, limit)
        moves = key_moves(recorded_keys(current, read_from, ends), current, to)
        return plan_add_partitions(name, current, to, moves, read_from)

    async def plan_purge(self, name: str, before_offsets: Mapping[int, int] | None = None,
                         before_time_ms: int | None = None, everything: bool = False
                         ) -> AdminPlan:
        check_not_internal(name)
        starts, ends = _marks(_topic(self.snapshot, name))
        if before_time_ms is not None:
            raise ConfigError("the recorded cluster keeps no record times: purge every record "
                              "or before offsets")
        if before_offsets is not None:
            targets, how = dict(before_offsets), "before offsets"
        elif everything:
            targets, how = dict(ends), "all records"
        else:
            raise ConfigError("purge needs exactly one of --before-offset P:O, "
                              "--before-time T, --all")
        return plan_purge(name, starts, ends, targets, self._commits_on(name), how)

    async def plan_delete(self, name: str) -> AdminPlan:
        check_not_internal(name)
        info = _topic(self.snapshot, name)
        active = {g.group_id: [_who(m) for m in g.members
                               if any(t == name for t, _ in m.assignment)]
                  for g in self.snapshot.groups.values()}
        return plan_delete_topic(name, len(info.partitions), info.records,
                                 sorted(self._commits_on(name)),
                                 {g: m for g, m in active.items() if m})

    def _commits_on(self, topic: str) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        for g in self.snapshot.groups.values():
            mine = {p: o for (t, p), o in g.offsets.items() if t == topic}
            if mine:
                out[g.group_id] = mine
        return out

    async def apply(self, plan: AdminPlan) -> dict[str, Any]:
        raise _refuse()


class RecordedGroupAdmin(GroupAdmin):
    """GroupAdmin's plans over a recorded snapshot."""

    def __init__(self, settings: ConnectionSettings, snapshot: ClusterSnapshot) -> None:
        super().__init__(settings)
        self.snapshot = snapshot

    def _info(self, group: str) -> GroupInfo:
        info = self.snapshot.groups.get(group)
        if info is None:
            raise NotFound(f"group {group} does not exist")
        return info

    async def plan_delete(self, group: str) -> AdminPlan:
        info = self._info(group)
        return plan_delete_group(group, info.state, [_who(m) for m in info.members],
                                 info.offsets)

    async def plan_delete_offsets(self, group: str, topic: str) -> AdminPlan:
        info = self._info(group)
        consuming = [_who(m) for m in info.members if any(t == topic for t, _ in m.assignment)]
        return plan_delete_offsets(group, topic, info.offsets, consuming)

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
        _, ends = _marks(_topic(self.snapshot, topic))
        return recorded_dead_letters(topic, sum(ends.values()),
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

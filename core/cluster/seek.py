"""Seek: reset a consumer group's committed offsets, the way Apache Kafka's
`kafka-consumer-groups.sh --reset-offsets` does, as a plan first and an explicit apply after.

    seeker = GroupSeeker(settings)
    plan = await seeker.plan("orders", SeekStrategy.to_datetime("2026-11-28T10:00:00.000"),
                             topics=["orders.v1:0,2"])
    print(plan.kafka_command(settings.bootstrap))   # the same reset with Kafka's own tool
    await seeker.apply(plan)                         # refused unless the group is Empty/Dead

Kafka's rules, per strategy (ConsumerGroupCommand 4.1, checked against the real tool):

- to-earliest / to-latest: the log start / log end offset.
- to-current: the committed offset, unchanged even when below the log start (no clamping);
  a partition **without a commit gets the log end** offset.
- to-offset N, shift-by N, from-file: clamped into [log start, log end] (flagged `clamped`
  with the reason). shift-by moves the committed offset; a partition **without a commit is an
  error** ("no current committed offset"), as in Kafka: scope it out with `--topic T:p,...`.
- to-datetime / by-duration (now − D): the earliest offset whose record timestamp is ≥ T
  (ListOffsets by timestamp); the log end where no record is that recent. No clamping.
- to-group G (ours, no Kafka equivalent): G's committed offset per partition, clamped like
  to-offset. Scope: the partitions G committed, or those of `--topic`; partitions in scope
  that G never committed are **left out** (and listed in `notes`), never guessed.
- Scope: `--topic T` / `T:0,2`, or every partition the group has commits for (Kafka's
  --all-topics); from-file takes its partitions from the file.

Stricter than Kafka, on purpose: an unknown group is an error (Kafka would create it), so is
an unknown topic or partition, and apply refuses when the commits changed since the plan.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition
from confluent_kafka.admin import OffsetSpec

from core.cluster.admin import KafkaAdmin
from core.cluster.audit import audited
from core.cluster.seek_parse import (
    SeekStrategy,
    StrategyKind,
    TopicScope,
    duration_target_ms,
    format_datetime,
    merge_scopes,
    parse_group_id,
    parse_topic_scope,
    rows_for_group,
    strategy_from_options,
)
from core.cluster.snapshot import ClusterSnapshot, GroupInfo, GroupMember
from core.config.settings import ConnectionSettings
from core.errors import ConfigError, NexusError

__all__ = [
    "GroupSeeker", "SeekChange", "SeekPlan", "SeekRefused", "SeekStrategy", "StrategyKind",
    "TopicScope", "is_live_group_error", "plan_changes", "refusal_message",
    "strategy_from_options",
]

TP = tuple[str, int]
#: Group states in which Kafka lets offsets be reset.
RESETTABLE_STATES = ("Empty", "Dead")
_LIVE_GROUP_ERRORS = re.compile(
    r"unknown.member|non.?empty|not empty|illegal.generation|rebalance.in.progress"
    r"|stale.member.epoch|fenced.member.epoch", re.IGNORECASE)
_MAX_NAMED = 5


class SeekRefused(NexusError):
    """apply() refused: the group has live members, or its commits moved since the plan."""


@dataclass(frozen=True, slots=True)
class SeekChange:
    """One partition of a plan: where the group is, where it will be."""

    topic: str
    partition: int
    current: int | None  # committed offset now; None = never committed
    target: int
    clamped: bool = False
    clamp_reason: str | None = None  # "below log start 120: clamped to 120"
    lag_before: int | None = None
    lag_after: int = 0
    log_start: int = 0
    log_end: int = 0
    requested: int | None = None  # the offset asked for, before clamping
    note: str | None = None  # e.g. "no commit: log end" (to-current)

    @property
    def moves(self) -> bool:
        return self.current != self.target

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic, "partition": self.partition, "current": self.current,
            "target": self.target, "clamped": self.clamped, "clamp_reason": self.clamp_reason,
            "lag_before": self.lag_before, "lag_after": self.lag_after,
            "log_start": self.log_start, "log_end": self.log_end,
            "requested": self.requested, "note": self.note,
        }


@dataclass(frozen=True)
class SeekPlan:
    """A dry run: nothing is committed until `GroupSeeker.apply(plan)`."""

    group: str
    strategy: str  # description, e.g. "to-offset 42"
    changes: tuple[SeekChange, ...]
    group_state: str
    members: tuple[GroupMember, ...] = ()
    spec: SeekStrategy = field(default_factory=SeekStrategy.earliest)
    scope: tuple[TopicScope, ...] = ()  # empty: every partition the group committed
    notes: tuple[str, ...] = ()
    planned_at: float = 0.0

    @property
    def can_apply(self) -> bool:
        """Whether Kafka's rule (Empty or Dead, no members) holds as of planning."""
        return self.group_state in RESETTABLE_STATES and not self.members

    @property
    def refusal(self) -> str | None:
        """Why apply would be refused now, or None."""
        if self.can_apply:
            return None
        return refusal_message(self.group, self.group_state, self.members)

    @property
    def clamped(self) -> tuple[SeekChange, ...]:
        return tuple(c for c in self.changes if c.clamped)

    def offsets(self) -> dict[TP, int]:
        """The offsets apply() commits, (topic, partition) → offset."""
        return {(c.topic, c.partition): c.target for c in self.changes}

    def to_csv(self) -> str:
        """The targets in Kafka's --export format (readable by --from-file of both tools)."""
        return "".join(f"{c.topic},{c.partition},{c.target}\n" for c in self.changes)

    def kafka_command(self, bootstrap: str, execute: bool = False,
                      csv_path: str | None = None) -> str:
        """The same reset with Apache Kafka's tool. A to-group plan becomes --from-file of
        this plan's CSV export (`csv_path`), as Kafka has no to-group."""
        args = ["kafka-consumer-groups.sh", "--bootstrap-server", bootstrap,
                "--group", self.group, "--reset-offsets", *self.spec.kafka_args(csv_path)]
        if self.spec.kind not in (StrategyKind.FILE, StrategyKind.GROUP):
            args += [a for s in self.scope for a in ("--topic", str(s))] or ["--all-topics"]
        args.append("--execute" if execute else "--dry-run")
        return shlex.join(args)

    def nexus_command(self, bootstrap: str) -> str:
        """The same dry run with `nexus-tui seek`, quoted for a POSIX shell: runnable as
        printed (add --execute to apply it)."""
        if self.spec.kind is StrategyKind.GROUP:
            strategy = ["--to-group", self.spec.text or ""]
        else:
            strategy = self.spec.kafka_args()
        return shlex.join(["nexus-tui", "seek", self.group, *strategy,
                           *[a for s in self.scope for a in ("--topic", str(s))],
                           "-b", bootstrap])

    def to_dict(self, executed: bool = False) -> dict[str, Any]:
        return {
            "group": self.group, "executed": executed, "strategy": self.strategy,
            "state": self.group_state,
            "members": [{"member_id": m.member_id, "client_id": m.client_id, "host": m.host}
                        for m in self.members],
            "changes": [c.to_dict() for c in self.changes],
            "notes": list(self.notes), "can_apply": self.can_apply,
        }


# ---- messages ----------------------------------------------------------------------------------


def members_text(members: Sequence[GroupMember]) -> str:
    """`svc-1@/10.0.0.1, svc-2@/10.0.0.2` (the first few, then `+N more`)."""
    named = [f"{m.client_id or m.member_id}@{m.host}" for m in members[:_MAX_NAMED]]
    if len(members) > _MAX_NAMED:
        named.append(f"+{len(members) - _MAX_NAMED} more")
    return ", ".join(named)


def refusal_message(group: str, state: str, members: Sequence[GroupMember]) -> str:
    """Why a live group can't be reset, naming who is still connected."""
    count = f"{len(members)} member{'s' if len(members) != 1 else ''}"
    who = f" ({members_text(members)})" if members else ""
    return (f"group {group} is {state} with {count}{who}: stop them first; "
            f"seek only applies to {' or '.join(RESETTABLE_STATES)} groups")


def is_live_group_error(text: str) -> bool:
    """Whether a broker error means "this group has live members" (UNKNOWN_MEMBER_ID, ...)."""
    return bool(_LIVE_GROUP_ERRORS.search(text))


# ---- the pure planning step --------------------------------------------------------------------


def clamp(offset: int, start: int, end: int) -> tuple[int, str | None]:
    """Kafka's checkOffsetsRange: above the log end → end, below the log start → start."""
    if offset > end:
        return end, f"above log end {end}: clamped to {end}"
    if offset < start:
        return start, f"below log start {start}: clamped to {start}"
    return offset, None


def plan_changes(
    strategy: SeekStrategy,
    partitions: Iterable[TP],
    commits: Mapping[TP, int],
    starts: Mapping[TP, int],
    ends: Mapping[TP, int],
    by_time: Mapping[TP, int] | None = None,
    requested: Mapping[TP, int] | None = None,
) -> tuple[list[SeekChange], list[str]]:
    """Targets for every partition (sorted), and notes. `by_time`: ListOffsets-by-timestamp
    answers (−1 = no such record); `requested`: from-file rows / the to-group source's commits.
    Raises ConfigError for shift-by over partitions without a commit."""
    parts = sorted(set(partitions))
    if strategy.kind is StrategyKind.SHIFT:
        _require_commits(parts, commits)
    changes: list[SeekChange] = []
    notes: list[str] = []
    for tp in parts:
        if strategy.kind is StrategyKind.GROUP and tp not in (requested or {}):
            notes.append(f"{tp[0]}[{tp[1]}]: group {strategy.text} has no commit there: "
                         "left out")
            continue
        changes.append(_change(strategy, tp, commits.get(tp), starts[tp], ends[tp],
                               (by_time or {}).get(tp, -1), (requested or {}).get(tp)))
    return changes, notes


def _require_commits(parts: Sequence[TP], commits: Mapping[TP, int]) -> None:
    missing = [f"{t}[{p}]" for t, p in parts if (t, p) not in commits]
    if missing:
        shown = ", ".join(missing[:_MAX_NAMED]) + (
            f" and {len(missing) - _MAX_NAMED} more" if len(missing) > _MAX_NAMED else "")
        raise ConfigError(f"cannot shift {shown}: no current committed offset (as in Kafka); "
                          "limit the scope with --topic TOPIC:P,...")


def _change(strategy: SeekStrategy, tp: TP, current: int | None, start: int, end: int,
            by_time: int, requested: int | None) -> SeekChange:
    kind = strategy.kind
    note = None
    ask: int | None = None
    if kind is StrategyKind.EARLIEST:
        target = start
    elif kind is StrategyKind.LATEST:
        target = end
    elif kind is StrategyKind.CURRENT:
        target = end if current is None else current
        note = "no commit: log end" if current is None else None
    elif kind in (StrategyKind.DATETIME, StrategyKind.DURATION):
        target = by_time if by_time >= 0 else end
        note = "no record that recent: log end" if by_time < 0 else None
    else:
        ask = _requested(strategy, current, requested)
        target, reason = clamp(ask, start, end)
        return _make(tp, current, target, start, end, reason, ask, note)
    return _make(tp, current, target, start, end, None, ask, note)


def _requested(strategy: SeekStrategy, current: int | None, requested: int | None) -> int:
    if strategy.kind is StrategyKind.OFFSET:
        return strategy.offset or 0
    if strategy.kind is StrategyKind.SHIFT:
        return (current or 0) + (strategy.shift or 0)
    return requested or 0  # from-file, to-group


def _make(tp: TP, current: int | None, target: int, start: int, end: int,
          reason: str | None, requested: int | None, note: str | None) -> SeekChange:
    return SeekChange(
        tp[0], tp[1], current, target, clamped=reason is not None, clamp_reason=reason,
        lag_before=None if current is None else max(0, end - current),
        lag_after=max(0, end - target), log_start=start, log_end=end,
        requested=requested, note=note,
    )


# ---- talking to the cluster --------------------------------------------------------------------


class GroupSeeker:
    """Plans and applies offset resets on one cluster. `clock` (seconds) is by-duration's now."""

    def __init__(self, admin: KafkaAdmin | ConnectionSettings | str,
                 clock: Callable[[], float] = time.time) -> None:
        self.admin = admin if isinstance(admin, KafkaAdmin) else KafkaAdmin(admin)
        self.clock = clock

    async def plan(self, group: str, strategy: SeekStrategy,
                   topics: Iterable[TopicScope | str] = ()) -> SeekPlan:
        """A dry run: reads the group, the logs' offsets (and timestamps); changes nothing."""
        parse_group_id(group)
        scope = merge_scopes(parse_topic_scope(t) if isinstance(t, str) else t for t in topics)
        if strategy.kind is StrategyKind.FILE and scope:
            raise ConfigError("--from-file takes its partitions from the file: drop --topic")
        planned_at = self.clock()
        info, source = await asyncio.gather(self.admin.group(group), self._source(strategy))
        wanted = _wanted(group, info, strategy, scope, source)
        snap = await self._logs({t for t, _ in wanted.partitions} | {s.topic for s in scope})
        partitions = _resolve(wanted, scope, snap, strategy)
        starts, ends = _log_offsets(snap, partitions)
        by_time = await self._by_time(strategy, partitions, planned_at)
        changes, more = plan_changes(strategy, partitions, info.offsets, starts, ends,
                                     by_time, wanted.requested)
        return SeekPlan(group, strategy.describe(), tuple(changes), info.state, info.members,
                        strategy, scope, tuple(wanted.notes + more), planned_at)

    async def apply(self, plan: SeekPlan, check_unchanged: bool = True) -> dict[TP, int]:
        """`_apply`, recorded in the audit log (core/cluster/audit.py)."""
        changes = [c for c in plan.changes if c.moves]
        with audited(self.admin.settings, "seek",
                     {"group": plan.group, "strategy": plan.strategy,
                      "topics": [str(s) for s in plan.scope]},
                     before={f"{c.topic}[{c.partition}]": c.current for c in changes},
                     after={f"{c.topic}[{c.partition}]": c.target for c in changes}):
            return await self._apply(plan, check_unchanged)

    async def _apply(self, plan: SeekPlan, check_unchanged: bool = True) -> dict[TP, int]:
        """Commit the plan in one AlterConsumerGroupOffsets request, after re-checking that the
        group is Empty or Dead (and, with `check_unchanged`, that no commit moved since the
        plan). Read-only connections are refused before any request."""
        self.admin.settings.check_writable("seek")
        offsets = plan.offsets()
        if not offsets:
            return {}
        info = (await self.admin.describe_groups([plan.group]))[plan.group]
        if info.error:
            raise NexusError(f"group {plan.group}: {info.error}")
        self._check_inactive(plan.group, info)
        if check_unchanged:
            _check_unchanged(plan, info)
        try:
            await self.admin.alter_group_offsets(plan.group, offsets)
        except NexusError as exc:
            if not is_live_group_error(str(exc)):
                raise
            raise SeekRefused(await self._live_refusal(plan.group)) from None
        return offsets

    # -- steps ----------------------------------------------------------------------------------

    async def _source(self, strategy: SeekStrategy) -> GroupInfo | None:
        if strategy.kind is not StrategyKind.GROUP:
            return None
        return await self.admin.group(strategy.text or "")

    async def _logs(self, topics: set[str]) -> ClusterSnapshot:
        pattern = "^(?:" + "|".join(re.escape(t) for t in sorted(topics)) + ")$"
        return await self.admin.snapshot(topic_filter=pattern, include_internal=True,
                                         groups=False, configs=False)

    async def _by_time(self, strategy: SeekStrategy, partitions: list[TP],
                       planned_at: float) -> dict[TP, int] | None:
        if strategy.kind is StrategyKind.DATETIME:
            ts = strategy.timestamp_ms or 0
        elif strategy.kind is StrategyKind.DURATION:
            ts = duration_target_ms(strategy.duration_ns or 0, int(planned_at * 1000))
        else:
            return None
        tps = [TopicPartition(t, p) for t, p in partitions]
        try:
            return await self.admin.list_offsets(tps, OffsetSpec.for_timestamp(ts))
        except NexusError as exc:
            raise NexusError(f"offsets at {format_datetime(ts)}: {exc}") from None

    def _check_inactive(self, group: str, info: GroupInfo) -> None:
        if info.state not in RESETTABLE_STATES or info.members:
            raise SeekRefused(refusal_message(group, info.state, info.members))

    async def _live_refusal(self, group: str) -> str:
        """The readable refusal after the broker said the group is live."""
        try:
            info = (await self.admin.describe_groups([group]))[group]
        except NexusError:
            info = None
        if info is not None and info.members:
            return refusal_message(group, info.state, info.members)
        return (f"group {group} has live members (the broker refused the commit): stop them "
                f"first; seek only applies to {' or '.join(RESETTABLE_STATES)} groups")


@dataclass
class _Wanted:
    """What a plan covers before the cluster is asked: partitions named by the commits, the
    scope or the file; the requested offsets of from-file and to-group; notes."""

    partitions: set[TP]
    requested: dict[TP, int] | None = None
    lines: dict[TP, int] = field(default_factory=dict)  # from-file line numbers
    notes: list[str] = field(default_factory=list)


def _wanted(group: str, info: GroupInfo, strategy: SeekStrategy,
            scope: tuple[TopicScope, ...], source: GroupInfo | None) -> _Wanted:
    if strategy.kind is StrategyKind.FILE:
        rows, notes = rows_for_group(strategy.rows, group, strategy.text or "the file")
        return _Wanted(set(rows), {tp: r.offset for tp, r in rows.items()},
                       {tp: r.line for tp, r in rows.items()}, notes)
    requested = dict(source.offsets) if source is not None else None
    if scope:
        return _Wanted({(s.topic, p) for s in scope for p in s.partitions or ()}, requested)
    committed = source.offsets if source is not None else info.offsets
    if not committed:
        whose = source.group_id if source is not None else group
        raise ConfigError(f"group {whose} has no committed offsets: name the topics with --topic")
    return _Wanted(set(committed), requested)


def _resolve(wanted: _Wanted, scope: tuple[TopicScope, ...], snap: ClusterSnapshot,
             strategy: SeekStrategy) -> list[TP]:
    """Check every partition exists; whole-topic scopes expand to all their partitions."""
    parts = set(wanted.partitions)
    for s in scope:
        if s.topic not in snap.topics:
            raise ConfigError(f"topic {s.topic} does not exist")
        if s.partitions is None:
            parts |= {(s.topic, p.partition) for p in snap.topics[s.topic].partitions}
    explicit = strategy.kind is StrategyKind.FILE or bool(scope)
    out = []
    for topic, partition in sorted(parts):
        if snap.partition(topic, partition) is not None:
            out.append((topic, partition))
        elif explicit:
            raise ConfigError(_missing(wanted, strategy, topic, partition, snap))
        else:  # commits of a deleted topic: nothing to seek to
            wanted.notes.append(f"{topic}[{partition}]: committed, but the topic no longer "
                                "exists: left out")
    return out


def _missing(wanted: _Wanted, strategy: SeekStrategy, topic: str, partition: int,
             snap: ClusterSnapshot) -> str:
    line = wanted.lines.get((topic, partition))
    where = f"{strategy.text} line {line}: " if line is not None else ""
    if topic not in snap.topics:
        return f"{where}topic {topic} does not exist"
    count = len(snap.topics[topic].partitions)
    return (f"{where}topic {topic} has {count} partition{'s' if count != 1 else ''} "
            f"(0-{count - 1}): no partition {partition}")


def _log_offsets(snap: ClusterSnapshot, partitions: Iterable[TP]
                 ) -> tuple[dict[TP, int], dict[TP, int]]:
    starts: dict[TP, int] = {}
    ends: dict[TP, int] = {}
    for topic, partition in partitions:
        info = snap.partition(topic, partition)
        if info is None or info.log_start is None or info.log_end is None:
            detail = "; ".join(snap.errors) or "no answer"
            raise NexusError(f"cannot read the log offsets of {topic}[{partition}]: {detail}")
        starts[(topic, partition)] = info.log_start
        ends[(topic, partition)] = info.log_end
    return starts, ends


def _check_unchanged(plan: SeekPlan, info: GroupInfo) -> None:
    moved = []
    for c in plan.changes:
        now = info.offsets.get((c.topic, c.partition))
        if now != c.current:
            moved.append(f"{c.topic}[{c.partition}]: {_show(c.current)} → {_show(now)}")
    if moved:
        raise SeekRefused(f"the commits of group {plan.group} changed since the plan ("
                          + ", ".join(moved[:_MAX_NAMED]) + "): plan again")


def _show(offset: int | None) -> str:
    return "none" if offset is None else str(offset)

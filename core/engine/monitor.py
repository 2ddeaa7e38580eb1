"""ClusterMonitor: repeated snapshots turned into what an operator reads — per group lag in
offsets and seconds, ETA, trend and Burrow status; per topic produce rate and skew.

The monitor keeps bounded histories (core.health.timelag.LagHistory) between refreshes; everything
it derives is a pure function of the snapshot, those histories and `now`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from msgspec import Struct, field

from core.cluster.snapshot import ClusterSnapshot, TopicInfo
from core.cluster.time_lag_exact import (
    CommittedRecord,
    CommittedRecordTimes,
    ExactTimeLag,
    RecordKey,
)
from core.engine.columns import FIELDS, PartitionColumns
from core.engine.time_lag import truthful_time_lag, worst_time_lag
from core.health.burrow import (
    GroupStatus,
    GroupVerdict,
    PartitionStatus,
    PartitionVerdict,
    evaluate_group_samples,
)
from core.health.lag import PartitionLag, normalize_committed
from core.health.skew import Skew, partition_skew
from core.health.timelag import LagHistory, Trend, eta_to_drain, lag_trend

if TYPE_CHECKING:
    from core.cluster.admin import KafkaAdmin
    from core.config.settings import ConnectionSettings

RATE_WINDOW_S = 60.0
TREND_WINDOW_S = 120.0
SPARK_POINTS = 30
EXACT_BUDGET_S = 5.0  # at most this long per refresh reading committed records' timestamps


class PartitionHealth(NamedTuple):
    """One partition of a group's health: its lag row, its Burrow verdict, time lag and rates.

    Plain values (a group keeps them as a plain tuple: GroupHealth.partitions); `lag` and
    `verdict` give the rows it was made of."""

    topic: str
    partition: int
    committed: int | None
    log_start: int
    log_end: int
    offset_lag: int | None  # lag in offsets (None: never committed)
    data_loss: bool
    member: str | None
    client_id: str | None
    host: str | None
    status_value: str  # PartitionStatus value
    reason: str
    verdict_committed: int | None
    verdict_lag: int | None
    time_lag_s: float | None  # None: unknown (core/engine/time_lag.py)
    consume_rate: float | None
    produce_rate: float | None
    time_lag_lower_bound: bool = False  # time_lag_s is only known to be at least this

    @classmethod
    def of(cls, lag: PartitionLag, verdict: PartitionVerdict, time_lag_s: float | None,
           consume_rate: float | None, produce_rate: float | None,
           time_lag_lower_bound: bool = False) -> PartitionHealth:
        return cls(lag.topic, lag.partition, lag.committed, lag.log_start, lag.log_end, lag.lag,
                   lag.data_loss, lag.member, lag.client_id, lag.host, verdict.status.value,
                   verdict.reason, verdict.committed, verdict.lag, time_lag_s, consume_rate,
                   produce_rate, time_lag_lower_bound)

    @property
    def lag(self) -> PartitionLag:
        return PartitionLag(self.topic, self.partition, self.committed, self.log_start,
                            self.log_end, self.offset_lag, self.data_loss, self.member,
                            self.client_id, self.host)

    @property
    def verdict(self) -> PartitionVerdict:
        return PartitionVerdict(PartitionStatus(self.status_value), self.reason,
                                self.verdict_committed, self.verdict_lag)


class GroupHealth(Struct, frozen=True):
    group_id: str
    state: str
    members: int
    total_lag: int | None
    max_lag: int | None
    time_lag_s: float | None  # worst partition, seconds behind; None: unknown
    time_lag_lower_bound: bool  # time_lag_s is only known to be at least this
    eta_s: float | None  # None: unknown, inf: not draining at this rate
    trend: Trend
    status: GroupStatus
    reason: str
    topics: tuple[str, ...]
    #: every partition's PartitionHealth fields, as columns (core/engine/columns.py)
    partition_columns: PartitionColumns
    lag_series: tuple[int, ...]  # recent total lags, oldest first (sparklines)
    data_loss: int = 0  # partitions whose commit is below log start
    error: str | None = None

    @property
    def partition_rows(self) -> tuple[tuple[Any, ...], ...]:
        """Every partition's health as a plain tuple in PartitionHealth's field order."""
        return self.partition_columns.rows()

    @property
    def partitions(self) -> tuple[PartitionHealth, ...]:
        """Every partition's health, made when asked for (the view keeps columns)."""
        return tuple(map(PartitionHealth._make, self.partition_rows))


class TopicHealth(Struct, frozen=True):
    info: TopicInfo
    msgs_per_s: float | None
    partition_rates: dict[int, float | None]
    skew: Skew
    groups: tuple[str, ...]
    max_lag: int | None


class MonitorView(Struct, frozen=True):
    snapshot: ClusterSnapshot
    groups: dict[str, GroupHealth]
    topics: dict[str, TopicHealth]
    cluster_msgs_per_s: float | None
    now: float

    def groups_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for g in self.groups.values():
            counts[g.status.value] = counts.get(g.status.value, 0) + 1
        return counts


class LagTracker(Struct):
    """Histories between refreshes plus the pure derivation of the view."""

    history: LagHistory = field(default_factory=LagHistory)
    burrow_window: int = 10  # samples per Burrow evaluation
    rate_window_s: float = RATE_WINDOW_S  # produce/consume rates (ETA, msgs/s)
    trend_window_s: float = TREND_WINDOW_S  # least-squares lag trend
    _totals: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)

    def observe(self, snap: ClusterSnapshot, now: float,
                records: Mapping[RecordKey, CommittedRecord] | None = None) -> MonitorView:
        """The view of this snapshot. `records`: the records at lagging committed offsets
        (CommittedRecordTimes.lookup), for exact time lags; without them, time lags come from
        the sampled end offsets only (core/engine/time_lag.py)."""
        records = records or {}
        for part in snap.partitions():
            if part.log_end is not None:
                self.history.record_end_offset(part.topic, part.partition, part.log_end, now)
        produce_rates: dict[tuple[str, int], float | None] = {}  # one per partition and refresh
        groups = {gid: self._group(snap, gid, now, produce_rates, records)
                  for gid in snap.groups}
        consumers: dict[str, list[str]] = {}  # topic -> its groups, in the groups' order
        max_lags: dict[str, int] = {}  # topic -> biggest lag of any of its groups
        for gid, health in groups.items():
            for name in health.topics:
                consumers.setdefault(name, []).append(gid)
            columns = health.partition_columns
            for topic, lag in zip(columns.column("topic"), columns.column("offset_lag"),
                                  strict=True):
                if lag is not None and lag > max_lags.get(topic, -1):
                    max_lags[topic] = lag
        topics = {name: self._topic(info, tuple(consumers.get(name, ())), max_lags.get(name),
                                    now, produce_rates)
                  for name, info in snap.topics.items()}
        rates = [t.msgs_per_s for t in topics.values() if t.msgs_per_s is not None]
        self.history.evict(now)
        return MonitorView(snap, groups, topics, sum(rates) if rates else None, now)

    def _produce_rate(self, topic: str, partition: int, now: float,
                      cache: dict[tuple[str, int], float | None]) -> float | None:
        key = (topic, partition)
        if key not in cache:
            cache[key] = self.history.produce_rate(topic, partition, now, self.rate_window_s)
        return cache[key]

    def _group(self, snap: ClusterSnapshot, gid: str, now: float,
               produce_rates: dict[tuple[str, int], float | None],
               records: Mapping[RecordKey, CommittedRecord]) -> GroupHealth:
        info = snap.groups[gid]
        lags = snap.partition_lags(gid)
        histories = {}
        window = self.burrow_window
        for row in lags:
            self.history.record(gid, row.topic, row.partition, row.committed, row.log_end, now,
                                row.log_start)
            # Burrow judges the last `window` samples; the history's are strictly time-ordered
            # (it drops a sample not newer than the last), so those are its last `window`
            histories[(row.topic, row.partition)] = self.history.samples(
                gid, row.topic, row.partition, last=window)
        owned = {(r.topic, r.partition): r.member is not None for r in lags} if (
            info.members or info.state in ("Empty", "Dead")) else None
        verdict: GroupVerdict = evaluate_group_samples(
            gid, histories, now, window=self.burrow_window, members=owned)
        by_key = {(t, p): v for t, p, v in verdict.partitions}
        parts = []
        time_lags: list[ExactTimeLag | None] = []
        for row in lags:
            committed = normalize_committed(row.committed)
            tl = truthful_time_lag(
                committed, row.log_end,
                None if committed is None else records.get((row.topic, row.partition,
                                                            committed)),
                self.history.end_table(row.topic, row.partition), now)
            time_lags.append(tl)
            parts.append(PartitionHealth.of(
                row, by_key[(row.topic, row.partition)], tl.seconds if tl else None,
                self.history.consume_rate(gid, row.topic, row.partition, now, self.rate_window_s),
                self._produce_rate(row.topic, row.partition, now, produce_rates),
                bool(tl and tl.lower_bound),
            ))
        known = [r.lag for r in lags if r.lag is not None]
        total = sum(known) if known else None
        series = self._totals.setdefault(gid, deque(maxlen=max(SPARK_POINTS, 120)))
        if total is not None and (not series or series[-1][0] < now):
            series.append((now, total))
        worst = worst_time_lag(time_lags, [bool(r.lag) for r in lags])
        return GroupHealth(
            group_id=gid, state=info.state, members=len(info.members), total_lag=total,
            max_lag=max(known) if known else None,
            time_lag_s=None if worst is None else worst.seconds,
            time_lag_lower_bound=bool(worst and worst.lower_bound), eta_s=self._eta(total, parts),
            trend=lag_trend(list(series), now, self.trend_window_s),
            status=verdict.status, reason=verdict.reason, topics=info.topics,
            partition_columns=PartitionColumns.of(parts),
            lag_series=tuple(v for _, v in list(series)[-SPARK_POINTS:]),
            data_loss=sum(1 for r in lags if r.data_loss), error=info.error,
        )

    @staticmethod
    def _eta(total: int | None, parts: list[PartitionHealth]) -> float | None:
        if total is None:
            return None
        consume = [p.consume_rate for p in parts if p.consume_rate is not None]
        produce = [p.produce_rate for p in parts if p.produce_rate is not None]
        if not consume or not produce:
            return 0.0 if total == 0 else None
        return eta_to_drain(total, sum(produce), sum(consume))

    def _topic(self, info: TopicInfo, consumers: tuple[str, ...], max_lag: int | None,
               now: float, produce_rates: dict[tuple[str, int], float | None]) -> TopicHealth:
        rates = {p.partition: self._produce_rate(info.name, p.partition, now, produce_rates)
                 for p in info.partitions}
        known = [r for r in rates.values() if r is not None]
        counts = {p.partition: float(p.records or 0) for p in info.partitions}
        use_rates = known and len(known) == len(rates) and sum(known) > 0
        skew = partition_skew({k: v or 0.0 for k, v in rates.items()} if use_rates else counts)
        return TopicHealth(info, sum(known) if known else None, rates, skew, consumers, max_lag)


class ClusterMonitor:
    """Snapshots of one cluster, one at a time, with the derived health view."""

    def __init__(self, settings: ConnectionSettings | str, *, include_internal: bool = False,
                 topic_filter: str | None = None, group_filter: str | None = None,
                 tracker: LagTracker | None = None, configs: bool = True,
                 abort_safe_groups: bool = False, exact_time_lag: bool = False,
                 exact_in_background: bool = False) -> None:
        """`exact_time_lag`: each refresh reads the timestamp of the record at every lagging
        committed offset (one bounded fetch per partition whose commit moved: the records are
        cached; core/cluster/time_lag_exact.py), so time lags are exact from the first
        snapshot instead of known only once the sampled end offsets cover the commit.

        `exact_in_background` (a refresh loop: the TUI's engine): a refresh does not wait for
        those reads; it uses the records read so far and starts reading the missing ones,
        which the next refresh uses. Until then such a partition's time lag comes from the
        sampled end offsets (a figure, a bound or unknown: core/engine/time_lag.py)."""
        # the Kafka clients are imported here, not with the module: the monitor's view is
        # also unpickled where no client is wanted (the TUI's process)
        from core.cluster.admin import KafkaAdmin

        self.admin: KafkaAdmin = KafkaAdmin(settings)
        #: a long-lived loop: a librdkafka abort must not take it down (groups read through
        #: core/engine/group_reader.py, set up with the first refresh)
        self.abort_safe_groups = abort_safe_groups
        self.configs = configs  # topic configs in the snapshot (the topics views show them)
        self.include_internal = include_internal
        self.topic_filter = topic_filter
        self.group_filter = group_filter
        self.tracker = tracker or LagTracker()
        self.times = (CommittedRecordTimes(self.admin.settings, budget_s=min(
            EXACT_BUDGET_S, self.admin.settings.request_timeout_s)) if exact_time_lag else None)
        self.exact_in_background = exact_in_background
        self._reading: asyncio.Future[Any] | None = None  # the background read, if any
        #: how long the last refresh took: snapshot_s (KafkaAdmin.snapshot), exact_s (the
        #: committed records' timestamps), observe_s
        self.timings: dict[str, float] = {}

    async def preview(self, now: float | None = None) -> MonitorView:
        """What the cluster's metadata alone tells (brokers, topics, partitions), as a view:
        no offsets, groups or configs, so one request; the histories are not touched. Shown
        while the first full refresh is still on its way."""
        snap = await self.admin.topology(topic_filter=self.topic_filter,
                                         include_internal=self.include_internal)
        return LagTracker().observe(snap, now if now is not None else time.time())

    async def refresh(self, now: float | None = None, *, exact: bool = True) -> MonitorView:
        """The next view. `exact=False` skips this refresh's committed-record reads (a caller
        that only keeps its last view of several, e.g. a CLI sampling a window)."""
        if self.abort_safe_groups and self.admin.group_reader is None:
            from core.engine.group_reader import GroupReader

            self.admin.group_reader = GroupReader(self.admin.settings)
        started = time.perf_counter()
        snap = await self.admin.snapshot(
            topic_filter=self.topic_filter, include_internal=self.include_internal,
            group_filter=self.group_filter, configs=self.configs)
        taken = time.perf_counter()
        records = None
        if self.times is not None and exact:
            keys = lagging_keys(snap)
            records = (self._read_behind(keys) if self.exact_in_background
                       else await self.times.lookup(keys))
        read = time.perf_counter()
        view = self.tracker.observe(snap, now if now is not None else time.time(), records)
        self.timings = {"snapshot_s": taken - started, "observe_s": time.perf_counter() - read}
        if records is not None:
            self.timings["exact_s"] = read - taken
        return view

    def _read_behind(self, keys: list[RecordKey]) -> dict[RecordKey, CommittedRecord]:
        """The records read so far of these keys; a background read of all of them starts
        when some are missing and none is running. A read that failed fails this refresh
        (its reason shown once), and the next refresh starts another."""
        assert self.times is not None
        reading = self._reading
        if reading is not None and reading.done():
            self._reading = None
            reading.result()
        known = self.times.cached(keys)
        if self._reading is None and len(known) < len(keys):
            self._reading = asyncio.ensure_future(self.times.lookup(keys))
        return known

    async def close(self) -> None:
        """Close the group reader's client and the timestamp reader, if there are any."""
        if self._reading is not None:
            self._reading.cancel()
            await asyncio.wait([self._reading])
            if not self._reading.cancelled():
                self._reading.exception()  # closing: a failed last read is no news
        if self.times is not None:
            await asyncio.to_thread(self.times.close)
        if self.admin.group_reader is not None:
            await self.admin.group_reader.close()


def lagging_keys(snap: ClusterSnapshot) -> list[RecordKey]:
    """(topic, partition, committed) of every group partition behind its log end: the
    records whose timestamps make the exact time lags. Not of an offline partition: no
    leader to fetch from, its read would only spend the budget."""
    offline = {(p.topic, p.partition) for p in snap.partitions() if p.offline}
    return [(r.topic, r.partition, r.committed) for gid in snap.groups
            for r in snap.partition_lags(gid) if r.lag and r.committed is not None
            and r.committed >= 0 and (r.topic, r.partition) not in offline]


assert PartitionHealth._fields == FIELDS, "core/engine/columns.py keeps PartitionHealth's order"

"""What is wrong with a cluster now: one line per problem, with its severity and reason.

A pure function of the monitor's view, the exact time lags and (optionally) the Nexus traffic
seen meanwhile; `nexus-tui health` prints it and takes its exit code from the worst severity
(Nagios: 0 OK, 1 WARN, 2 ERR). Worst problems first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum

from msgspec import Struct

from core.cluster.time_lag_exact import CommittedRecord, ExactTimeLag, RecordKey, time_lag_of
from core.engine.columns import FIELDS
from core.engine.monitor import MonitorView, PartitionHealth
from core.engine.time_lag import worst_time_lag
from core.health.burrow import GroupStatus
from core.health.units import fmt_duration, fmt_time_lag
from core.traffic.window import TopicTraffic


class Severity(IntEnum):
    OK = 0
    WARN = 1
    ERR = 2


class Problem(Struct, frozen=True):
    severity: Severity
    kind: str  # group, topic, broker, traffic
    subject: str  # the group, topic or broker it is about
    reason: str

    def line(self) -> str:
        return f"{self.severity.name:<4} {self.kind} {self.subject}: {self.reason}"


class Thresholds(Struct, frozen=True):
    max_time_lag_s: float | None = None
    max_error_ratio: float | None = None


def cluster_problems(view: MonitorView,
                     records: Mapping[RecordKey, CommittedRecord] | None = None,
                     now: float | None = None, thresholds: Thresholds | None = None,
                     traffic: Iterable[TopicTraffic] = ()) -> list[Problem]:
    """Every problem of the view, worst first (then by kind and subject).

    Time lags are the view's (exact when its monitor read the committed records), or from
    `records` when given (a monitor without `exact_time_lag`); `now` defaults to the view's."""
    thresholds = thresholds or Thresholds()
    records = records or {}
    now = view.now if now is None else now
    out: list[Problem] = []
    snap = view.snapshot
    live = {b.id for b in snap.brokers}
    named: dict[int, int] = {}
    for part in snap.partitions():
        for replica in part.replicas:
            if replica not in live:
                named[replica] = named.get(replica, 0) + 1
    for broker, count in sorted(named.items()):
        out.append(Problem(Severity.ERR, "broker", str(broker),
                           f"down: a replica of {count} partition(s), not alive in the cluster"))
    for name, t in view.topics.items():
        if t.info.offline:
            out.append(Problem(Severity.ERR, "topic", name,
                               f"{t.info.offline} offline partition(s) (no leader)"))
        if t.info.under_replicated:
            out.append(Problem(Severity.WARN, "topic", name,
                               f"{t.info.under_replicated} under-replicated partition(s)"))
        # hot by produce rate only: records piled up by keys long ago are not a load now
        if t.msgs_per_s and t.skew.hot_partitions and t.skew.level == "severe":
            out.append(Problem(Severity.WARN, "topic", name, (
                f"hot partition(s) {list(t.skew.hot_partitions)} by produce rate "
                f"(max/mean {t.skew.max_over_mean:.1f}, cv {t.skew.cv:.2f})")))
    for gid, g in view.groups.items():
        # read partition by partition only for a group that is reported or checked
        worst = (_worst_time_lag(view, gid, records, now)
                 if g.status in (GroupStatus.ERR, GroupStatus.WARN)
                 or thresholds.max_time_lag_s is not None else None)
        behind = "" if worst is None else (
            f"time lag {fmt_time_lag(worst[0], worst[1])} on {worst[2]}; ")
        if g.status is GroupStatus.ERR:
            out.append(Problem(Severity.ERR, "group", gid, f"ERR: {behind}{g.reason}"))
        elif g.status is GroupStatus.WARN:
            out.append(Problem(Severity.WARN, "group", gid, f"WARN: {behind}{g.reason}"))
        if g.error:
            out.append(Problem(Severity.WARN, "group", gid, f"cannot read it: {g.error}"))
        if g.data_loss:
            out.append(Problem(Severity.WARN, "group", gid, (
                f"{g.data_loss} partition(s) committed below the log start: records deleted "
                "before the group read them")))
        if thresholds.max_time_lag_s is not None:
            if worst is not None and worst[0] > thresholds.max_time_lag_s:
                seconds, bound, where = worst
                out.append(Problem(Severity.ERR, "group", gid, (
                    f"time lag {fmt_time_lag(seconds, bound)} on {where}, over "
                    f"{fmt_duration(thresholds.max_time_lag_s)}")))
    for t in traffic:
        if t.topic == "*":
            continue
        if thresholds.max_error_ratio is not None and t.replies:
            ratio = t.error_replies / t.replies
            if ratio > thresholds.max_error_ratio:
                out.append(Problem(Severity.ERR, "traffic", t.topic, (
                    f"{t.error_replies} error replies of {t.replies} "
                    f"({ratio:.1%}, over {thresholds.max_error_ratio:.1%})")))
        if t.dead_letters:
            window = fmt_duration(t.window_s)
            out.append(Problem(Severity.WARN, "traffic", t.topic, (
                f"{t.dead_letters} record(s) dead-lettered in the last {window}")))
    out.sort(key=lambda p: (-p.severity, p.kind, p.subject))
    return out


def _worst_time_lag(view: MonitorView, gid: str, records: Mapping[RecordKey, CommittedRecord],
                    now: float) -> tuple[float, bool, str] | None:
    """(seconds, lower bound, where) of the group's partition furthest behind, as the group's
    figure reads (a bound when any lagging partition's is a bound or unknown:
    core/engine/time_lag.py); None when no lagging partition's figure is known."""
    g = view.groups[gid]
    if not g.total_lag:
        return None
    lags: list[ExactTimeLag | None] = []
    where: list[str] = []
    lag_at = FIELDS.index("offset_lag")
    for row in g.partition_rows:  # plain tuples: no PartitionHealth for those not behind
        if row[lag_at]:
            p = PartitionHealth._make(row)
            lags.append(_partition_time_lag(p, records, now))
            where.append(f"{p.topic}[{p.partition}]")
    worst = worst_time_lag(lags, [True] * len(lags))
    if worst is None:
        return None
    at = max((i for i, lag in enumerate(lags) if lag is not None),
             key=lambda i: lags[i].seconds)  # type: ignore[union-attr]
    return worst.seconds, worst.lower_bound, where[at]


def _partition_time_lag(p: PartitionHealth, records: Mapping[RecordKey, CommittedRecord],
                        now: float) -> ExactTimeLag | None:
    """The exact figure of `records` first, then the view's, then a bound of `records`."""
    record = None if p.committed is None else records.get((p.topic, p.partition, p.committed))
    from_record = time_lag_of(p.committed, p.log_end, record, now)
    if from_record is not None and not from_record.lower_bound:
        return from_record
    if p.time_lag_s is not None and not (p.time_lag_lower_bound and from_record is not None
                                         and from_record.seconds > p.time_lag_s):
        return ExactTimeLag(p.time_lag_s, p.time_lag_lower_bound)
    return from_record


def verdict(problems: Iterable[Problem]) -> Severity:
    return max((p.severity for p in problems), default=Severity.OK)

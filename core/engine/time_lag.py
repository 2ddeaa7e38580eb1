"""The time lag a view shows: exact when it is known, a lower bound when only that is, and
unknown (``None``) otherwise — never a guess presented as a figure.

Two sources, best first:

1. the timestamp of the record at the committed offset (core/cluster/time_lag_exact.py): the
   record the group has not read yet was written ``now - ts`` ago — exact;
2. the sampled end offsets (core/health/timelag.py): when the committed offset lies between
   two samples, the moment the log end passed it is interpolated between them — a figure
   as precise as the sampling period.

Everything else only bounds the lag from below, and says so: the record read after a
committed record that is gone (retention, compaction: it was written later than the one the
group waits for), or the oldest sample when the log end had already passed the committed
offset before the first sample (``now - t_oldest``; the table's extrapolation by rate is a
guess, not a bound, and is not used). A bound of 0 (one snapshot) says nothing: unknown.
"""

from __future__ import annotations

from core.cluster.time_lag_exact import CommittedRecord, ExactTimeLag
from core.health.lag import normalize_committed
from core.health.timelag import OffsetTimeTable, TimeLagKind


def truthful_time_lag(committed: int | None, log_end: int | None,
                      record: CommittedRecord | None, table: OffsetTimeTable | None,
                      now: float) -> ExactTimeLag | None:
    """One group partition's time lag from what is known of it (see the module's rules)."""
    committed = normalize_committed(committed)
    if committed is None or log_end is None:
        return None
    if committed >= log_end:
        return ExactTimeLag(0.0, False)
    if record is not None and record.exact:
        return ExactTimeLag(max(0.0, now - record.timestamp_s), False)
    bounds = [] if record is None else [now - record.timestamp_s]
    if table is not None:
        found = table.locate(committed)
        if found is not None and found.kind is TimeLagKind.INTERPOLATED:
            return ExactTimeLag(max(0.0, now - found.t), False)
        oldest = table.oldest
        if oldest is not None and oldest[0] > committed:
            bounds.append(now - oldest[1])
    best = max(bounds, default=0.0)
    return ExactTimeLag(best, True) if best > 0 else None


def worst_time_lag(lags: list[ExactTimeLag | None],
                   lagging: list[bool]) -> ExactTimeLag | None:
    """A group's time lag: its worst partition's. A lower bound when any lagging partition's
    figure is a bound or unknown (that one may be further behind); unknown when no lagging
    partition's figure is known (caught-up partitions' 0 s would hide them)."""
    behind = [lag for lag, late in zip(lags, lagging, strict=True) if late]
    if not behind:
        return max((lag for lag in lags if lag is not None), key=lambda lag: lag.seconds,
                   default=None)
    known = [lag for lag in behind if lag is not None]
    if not known:
        return None
    worst = max(known, key=lambda lag: lag.seconds)
    doubtful = len(known) < len(behind) or any(lag.lower_bound for lag in known)
    return ExactTimeLag(worst.seconds, doubtful)

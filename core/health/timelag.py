"""Lag in seconds, rates, time to drain and lag trend — pure functions, clock injected.

Time lag follows kafka-lag-exporter: per partition keep a bounded table of sampled
(end offset, wall time) pairs. A consumer whose committed offset is ``C`` has read every
record written before the log end moved past ``C``; its time lag is ``now`` minus the time
at which that happened, found by linear interpolation between the two samples around ``C``.

Rules (the tests pin each of them):

* ``C`` at or above the newest sampled end offset: caught up, 0 s.
* fewer than 2 samples: unknown (``None``), unless caught up.
* ``C`` inside the table: interpolate inside the segment where the end offset passed ``C``
  (the first sample with offset > ``C`` and the one before it). In a flat run (no
  production) the *last* sample of the run is used, so a sampled, non-flat point maps to
  exactly its own time and the result is monotone in ``C``.
* ``C`` older than the oldest sample: extrapolate back from the oldest sample with the rate
  of the oldest rising segment (``EXTRAPOLATED``, an estimate); if the table never rose, the
  oldest sample's time gives a lower bound (``LOWER_BOUND``).

No function here reads the clock: every caller passes ``now`` (seconds, float).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from enum import Enum
from itertools import pairwise

from msgspec import Struct

from core.health.lag import LagSample, normalize_committed

DEFAULT_TABLE_LEN = 60
"""Points kept per partition end-offset table (kafka-lag-exporter keeps 60 too)."""


class TimeLagKind(Enum):
    """How a time lag was obtained."""

    CAUGHT_UP = "caught_up"
    INTERPOLATED = "interpolated"
    EXTRAPOLATED = "extrapolated"
    LOWER_BOUND = "lower_bound"


class TimeLag(Struct, frozen=True):
    """A lag in seconds, and whether it is measured or only estimated."""

    seconds: float
    kind: TimeLagKind

    @property
    def estimate(self) -> bool:
        """True when the committed offset is older than the table (extrapolated/lower bound)."""
        return self.kind in (TimeLagKind.EXTRAPOLATED, TimeLagKind.LOWER_BOUND)


class TimeLookup(Struct, frozen=True):
    """The wall time at which the log end passed an offset, and how it was found."""

    t: float
    kind: TimeLagKind


class OffsetTimeTable:
    """A bounded, time-ordered table of sampled (end offset, wall time) for one partition.

    * samples not newer than the newest one (out of order, duplicate time) are ignored;
    * an end offset going *down* (topic deleted and recreated, truncation) resets the table;
    * in a run of equal offsets only the first and last samples are kept, so idle
      partitions do not push useful history out of the table.

    The points live in two flat arrays (int64 offsets, float64 times), not in tuples: a big
    cluster's histories hold hundreds of thousands of them, which as objects would cost many
    times the memory and lengthen every garbage collection.
    """

    __slots__ = ("_maxlen", "_offsets", "_resets", "_times")

    def __init__(self, maxlen: int = DEFAULT_TABLE_LEN) -> None:
        if maxlen < 2:
            raise ValueError("an offset/time table needs room for at least 2 points")
        self._maxlen = maxlen
        self._offsets = array("q")
        self._times = array("d")
        self._resets = 0

    def __len__(self) -> int:
        return len(self._times)

    @property
    def points(self) -> tuple[tuple[int, float], ...]:
        """The stored (offset, t) points, oldest first."""
        return tuple(zip(self._offsets, self._times, strict=True))

    @property
    def latest(self) -> tuple[int, float] | None:
        """The newest (offset, t) point, or ``None`` when empty."""
        return (self._offsets[-1], self._times[-1]) if self._times else None

    @property
    def oldest(self) -> tuple[int, float] | None:
        """The oldest (offset, t) point, or ``None`` when empty."""
        return (self._offsets[0], self._times[0]) if self._times else None

    @property
    def resets(self) -> int:
        """How many times the table was reset because the end offset went down."""
        return self._resets

    def add(self, offset: int, t: float) -> bool:
        """Record that the log end was ``offset`` at time ``t``; return False if ignored."""
        offs, times = self._offsets, self._times
        n = len(times)
        if n and t <= times[-1]:
            return False
        if n and offset < offs[-1]:
            del offs[:], times[:]
            self._resets += 1
        elif n >= 2 and offs[-1] == offset and offs[-2] == offset:
            offs.pop()
            times.pop()
        offs.append(offset)
        times.append(t)
        if len(times) > self._maxlen:
            del offs[0], times[0]
        return True

    def locate(self, offset: int) -> TimeLookup | None:
        """When the log end passed ``offset`` (see module rules); ``None`` if unknown."""
        offs, times = self._offsets, self._times
        if not offs or offset > offs[-1]:
            return None
        if offset == offs[-1]:
            return TimeLookup(times[-1], TimeLagKind.CAUGHT_UP)
        if len(offs) < 2:
            return None
        j = bisect_right(offs, offset)
        if j == 0:
            return self._extrapolate(offset)
        o0, t0, o1, t1 = offs[j - 1], times[j - 1], offs[j], times[j]
        t = t0 + (offset - o0) * (t1 - t0) / (o1 - o0)
        return TimeLookup(min(max(t, t0), t1), TimeLagKind.INTERPOLATED)

    def time_of(self, offset: int) -> float | None:
        """The wall time at which the log end passed ``offset``, or ``None`` if unknown."""
        found = self.locate(offset)
        return None if found is None else found.t

    def _extrapolate(self, offset: int) -> TimeLookup:
        """Time for an offset below the oldest point, from the oldest rising segment."""
        pts = self.points
        o_first, t_first = pts[0]
        for (oa, ta), (ob, tb) in pairwise(pts):
            if ob > oa:
                per_second = (ob - oa) / (tb - ta)
                t = t_first - (o_first - offset) / per_second
                return TimeLookup(min(t, t_first), TimeLagKind.EXTRAPOLATED)
        return TimeLookup(t_first, TimeLagKind.LOWER_BOUND)


def time_lag(table: OffsetTimeTable, committed: int | None, now: float) -> TimeLag | None:
    """Time lag of a consumer at ``committed``: ``now`` minus when the log end passed it.

    ``None`` when there is no commit, the table is empty, or (unless caught up) it has
    fewer than 2 points. Never negative.
    """
    committed = normalize_committed(committed)
    latest = table.latest
    if committed is None or latest is None:
        return None
    if committed >= latest[0]:
        return TimeLag(0.0, TimeLagKind.CAUGHT_UP)
    found = table.locate(committed)
    if found is None:
        return None
    return TimeLag(max(0.0, now - found.t), found.kind)


def time_lag_seconds(table: OffsetTimeTable, committed: int | None, now: float) -> float | None:
    """:func:`time_lag` as plain seconds (``None`` when unknown)."""
    found = time_lag(table, committed, now)
    return None if found is None else found.seconds


def rate(samples: Sequence[tuple[float, float]]) -> float | None:
    """Change per second between the oldest and newest (t, value) sample.

    ``None`` with fewer than 2 samples or when they span no time. Negative when the value
    went down (a rewind, a recreated topic).
    """
    if len(samples) < 2:
        return None
    first = min(samples, key=lambda s: s[0])
    last = max(samples, key=lambda s: s[0])
    dt = last[0] - first[0]
    if dt == 0:
        return None
    return (last[1] - first[1]) / dt


def in_window(
    samples: Sequence[tuple[float, float]], now: float, window: float
) -> list[tuple[float, float]]:
    """The (t, value) samples with ``now - window <= t <= now``, in the given order."""
    return [s for s in samples if now - window <= s[0] <= now]


def eta_to_drain(
    lag: int | None, produce_rate: float | None, consume_rate: float | None
) -> float | None:
    """Seconds until the lag reaches 0 at the current rates (kafkatop): lag / (consume - produce).

    0 when there is no lag; ``math.inf`` ("never at this rate") when the group consumes no
    faster than the topic grows; ``None`` when the lag or a rate is unknown.
    """
    if lag is None:
        return None
    if lag <= 0:
        return 0.0
    if produce_rate is None or consume_rate is None:
        return None
    net = consume_rate - produce_rate
    if net <= 0:
        return math.inf
    return lag / net


class Trend(Enum):
    """Direction of a lag series. ``UNKNOWN`` when the window holds < 2 distinct times."""

    GROWING = "growing"
    DRAINING = "draining"
    FLAT = "flat"
    UNKNOWN = "unknown"


DEFAULT_TREND_REL_TOLERANCE = 0.05
DEFAULT_TREND_ABS_TOLERANCE = 1.0


def lag_trend(
    lag_samples: Sequence[tuple[float, int | None]],
    now: float,
    window: float,
    *,
    rel_tolerance: float = DEFAULT_TREND_REL_TOLERANCE,
    abs_tolerance: float = DEFAULT_TREND_ABS_TOLERANCE,
) -> Trend:
    """Whether lag grows, drains or holds over the last ``window`` seconds before ``now``.

    Rule: fit a least-squares line to the (t, lag) samples in the window; its change over
    the samples' span (``slope * span``) must exceed ``max(abs_tolerance, rel_tolerance *
    mean lag)`` — by default 5 % of the mean lag, at least 1 record — to count as
    GROWING (positive) or DRAINING (negative); otherwise FLAT. Samples with unknown lag
    (``None``) are skipped.
    """
    pts = [
        (t, float(lag)) for t, lag in lag_samples if lag is not None and now - window <= t <= now
    ]
    fit = _least_squares_slope(pts)
    if fit is None:
        return Trend.UNKNOWN
    slope, mean_lag = fit
    span = max(t for t, _ in pts) - min(t for t, _ in pts)
    change = slope * span
    tolerance = max(abs_tolerance, rel_tolerance * abs(mean_lag))
    if change > tolerance:
        return Trend.GROWING
    if change < -tolerance:
        return Trend.DRAINING
    return Trend.FLAT


def _least_squares_slope(pts: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """(slope, mean y) of the least-squares line through ``pts``; ``None`` if undefined."""
    if len(pts) < 2:
        return None
    mean_t = sum(t for t, _ in pts) / len(pts)
    mean_y = sum(y for _, y in pts) / len(pts)
    den = sum((t - mean_t) ** 2 for t, _ in pts)
    if den == 0:
        return None
    num = sum((t - mean_t) * (y - mean_y) for t, y in pts)
    return num / den, mean_y


_NONE = -1
"""Stored for a committed offset or log start that is not known."""


def _opt(value: int) -> int | None:
    return None if value == _NONE else value


GroupKey = tuple[str, str, int]
PartitionKey = tuple[str, int]


class LagHistory:
    """Bounded per-partition histories for a refresh loop (memory bounded, clock injected).

    Keeps, per (group, topic, partition), the last ``maxlen`` samples and, per
    (topic, partition), an :class:`OffsetTimeTable` of end offsets. Samples not newer than
    the last one for their key are ignored. When a partition's log end goes down (topic
    recreated) its commit histories restart. Keys not recorded for ``ttl`` seconds are
    dropped by :meth:`evict`, which the caller runs once per refresh.

    A key's samples are kept in two flat arrays — times (float64) and (committed, log end,
    log start) triples (int64, ``-1`` for "none") — and become :class:`LagSample` objects
    only when read: a big cluster's histories hold hundreds of thousands of samples, which
    as objects would cost many times the memory and be walked by every full garbage
    collection.
    """

    def __init__(
        self,
        *,
        maxlen: int = DEFAULT_TABLE_LEN,
        table_len: int = DEFAULT_TABLE_LEN,
        ttl: float = 900.0,
    ) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self._maxlen = maxlen
        self._table_len = table_len
        self._ttl = ttl
        self._samples: dict[GroupKey, tuple[array[float], array[int]]] = {}
        self._tables: dict[PartitionKey, OffsetTimeTable] = {}
        self._group_seen: dict[GroupKey, float] = {}
        self._table_seen: dict[PartitionKey, float] = {}

    def record_end_offset(self, topic: str, partition: int, log_end: int, t: float) -> None:
        """Add a sampled log end offset to the partition's offset/time table."""
        key = (topic, partition)
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = OffsetTimeTable(self._table_len)
        table.add(log_end, t)
        self._table_seen[key] = max(t, self._table_seen.get(key, t))

    def record(
        self,
        group: str,
        topic: str,
        partition: int,
        committed: int | None,
        log_end: int,
        t: float,
        log_start: int | None = None,
    ) -> None:
        """Add a group's committed offset (and the log end read in the same pass) at ``t``."""
        self.record_end_offset(topic, partition, log_end, t)
        key = (group, topic, partition)
        history = self._samples.get(key)
        if history is None:
            history = self._samples[key] = (array("d"), array("q"))
        times, offsets = history
        if times:
            if t <= times[-1]:
                return
            if log_end < offsets[-2]:
                del times[:], offsets[:]
        committed = normalize_committed(committed)
        times.append(t)
        offsets.extend((_NONE if committed is None else committed, log_end,
                        _NONE if log_start is None else log_start))
        if len(times) > self._maxlen:
            del times[0], offsets[:3]
        self._group_seen[key] = t

    def samples(self, group: str, topic: str, partition: int,
                last: int | None = None) -> tuple[LagSample, ...]:
        """The stored samples of one group partition (the ``last`` newest only), oldest first."""
        history = self._samples.get((group, topic, partition))
        if history is None:
            return ()
        times, offsets = history
        first = 0 if last is None else max(0, len(times) - last)
        return tuple(
            LagSample(times[i], _opt(offsets[3 * i]), offsets[3 * i + 1],
                      _opt(offsets[3 * i + 2]))
            for i in range(first, len(times)))

    def latest_committed(self, group: str, topic: str, partition: int) -> int | None:
        """The newest sampled committed offset of one group partition (``None``: none)."""
        history = self._samples.get((group, topic, partition))
        return _opt(history[1][-3]) if history and history[0] else None

    def end_table(self, topic: str, partition: int) -> OffsetTimeTable | None:
        """The partition's end-offset table, or ``None`` if never sampled."""
        return self._tables.get((topic, partition))

    def keys(self) -> tuple[GroupKey, ...]:
        """Every (group, topic, partition) with a history."""
        return tuple(self._samples)

    def time_lag(self, group: str, topic: str, partition: int, now: float) -> TimeLag | None:
        """Time lag at the group's latest sampled committed offset."""
        history = self._samples.get((group, topic, partition))
        table = self._tables.get((topic, partition))
        if not history or not history[0] or table is None:
            return None
        return time_lag(table, _opt(history[1][-3]), now)

    def consume_rate(
        self, group: str, topic: str, partition: int, now: float, window: float
    ) -> float | None:
        """Committed offsets per second over the last ``window`` seconds."""
        history = self._samples.get((group, topic, partition))
        if history is None:
            return None
        times, offsets = history
        start = now - window
        pts = [(t, float(c)) for t, c in zip(times, offsets[::3], strict=True)
               if c != _NONE and start <= t <= now]
        return rate(pts)

    def produce_rate(self, topic: str, partition: int, now: float, window: float) -> float | None:
        """Log end offsets per second over the last ``window`` seconds before ``now``.

        When the table reaches back past the window start, the end offset at the start is
        interpolated, so a collapsed idle run still counts as idle inside the window.
        """
        table = self._tables.get((topic, partition))
        if table is None:
            return None
        start = now - window
        pts = [(t, float(o)) for o, t in table.points if t <= now]
        inside = [p for p in pts if p[0] > start]
        before = [p for p in pts if p[0] <= start]
        if before and inside:
            (ta, va), (tb, vb) = before[-1], inside[0]
            inside.insert(0, (start, va + (start - ta) * (vb - va) / (tb - ta)))
        elif before:
            inside = before[-1:]
        return rate(inside)

    def evict(self, now: float) -> int:
        """Drop every key not recorded since ``now - ttl``; return how many were dropped."""
        stale_groups = [k for k, t in self._group_seen.items() if now - t > self._ttl]
        for gk in stale_groups:
            del self._group_seen[gk]
            self._samples.pop(gk, None)
        stale_tables = [k for k, t in self._table_seen.items() if now - t > self._ttl]
        for pk in stale_tables:
            del self._table_seen[pk]
            self._tables.pop(pk, None)
        return len(stale_groups) + len(stale_tables)

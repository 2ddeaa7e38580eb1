"""Burrow-style consumer status, without lag thresholds, with the reason in words.

Burrow (linkedin/Burrow, "Consumer Lag Evaluation Rules") judges each partition over a
sliding window of the group's last commits. We *sample* (t, committed, log end) at each
refresh instead of observing commits, so the rules are restated over samples. Per
partition, over the last ``window`` samples (default 10), first rule that matches wins:

1. any lag in the window is 0                                  -> OK
2. the committed offset went down between two samples           -> REWIND
   (rules 1-2 need only the samples there are; rules 3-5 need ``min_samples``,
   default a full window, else UNKNOWN "collecting samples")
3. commits stopped                                              -> STOP
   "last commit" = time of the latest sample whose committed offset differs from the
   sample before it. Burrow's test "now - last commit > last commit - first commit" is
   applied when at least one change was seen in the window. A committed offset that never
   changed across the window cannot be told from a stuck-but-alive consumer by offsets
   alone (we do not see repeated commits of the same offset), so it is STOP only when the
   caller says no group member owns the partition (``has_member=False``); otherwise rule 4.
4. committed offset unchanged across the window, lag > 0       -> STALL
5. lag never decreased across the window (each >= previous)     -> WARN
6. otherwise                                                    -> OK

Rule 1 comes first as on Burrow's wiki, so a rewind right after a lag of 0 shows as OK
until the zero leaves the window (later Burrow, PR #716, checks such rewinds first).

Only the trailing run of samples that have a committed offset is judged. A partition whose
latest sample has no committed offset (never committed, or the offset expired/was deleted)
is: OK when it holds no records (log end == log start); WARN when, over a full window, the
log end grew while nothing was committed; UNKNOWN otherwise.

The group status is the worst partition: STOP/STALL/REWIND -> ERR, WARN -> WARN, otherwise
OK; UNKNOWN only when no partition has a known status. The window must span more than the
consumer's commit interval (``auto.commit.interval.ms``, 5 s by default), or a healthy
consumer that commits rarely looks stalled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from itertools import pairwise

from msgspec import Struct

from core.health.lag import LagSample
from core.health.units import fmt_duration

DEFAULT_WINDOW = 10
"""Samples judged per partition (Burrow's default ``intervals`` is 10 too)."""


class PartitionStatus(Enum):
    """Status of one partition. ``UNKNOWN``: not enough samples to judge rules 3-5."""

    OK = "OK"
    UNKNOWN = "UNKNOWN"
    WARN = "WARN"
    STOP = "STOP"
    STALL = "STALL"
    REWIND = "REWIND"

    @property
    def severity(self) -> int:
        """Ordering for "worst partition" (Burrow's order: WARN < STOP < STALL < REWIND)."""
        return _SEVERITY[self]

    @property
    def is_error(self) -> bool:
        """STOP, STALL and REWIND make the group ERR."""
        return self in (PartitionStatus.STOP, PartitionStatus.STALL, PartitionStatus.REWIND)


_SEVERITY = {
    PartitionStatus.OK: 0,
    PartitionStatus.UNKNOWN: 1,
    PartitionStatus.WARN: 2,
    PartitionStatus.STOP: 3,
    PartitionStatus.STALL: 4,
    PartitionStatus.REWIND: 5,
}


class GroupStatus(Enum):
    """Status of a group: its worst partition. ``UNKNOWN`` when no partition is judged yet."""

    OK = "OK"
    WARN = "WARN"
    ERR = "ERR"
    UNKNOWN = "UNKNOWN"


class PartitionVerdict(Struct, frozen=True):
    """A partition's status, the reason in words, and its latest committed offset and lag."""

    status: PartitionStatus
    reason: str
    committed: int | None = None
    lag: int | None = None


class GroupVerdict(Struct, frozen=True):
    """A group's status, the reason in words, and every partition's verdict, worst first."""

    group: str
    status: GroupStatus
    reason: str
    partitions: tuple[tuple[str, int, PartitionVerdict], ...]

    def count(self, status: PartitionStatus) -> int:
        """How many partitions have ``status``."""
        return sum(1 for _, _, v in self.partitions if v.status is status)

    @property
    def worst(self) -> tuple[tuple[str, int, PartitionVerdict], ...]:
        """The partitions sharing the worst status (empty when all are OK)."""
        if not self.partitions or self.partitions[0][2].status is PartitionStatus.OK:
            return ()
        top = self.partitions[0][2].status
        return tuple(p for p in self.partitions if p[2].status is top)


def _normalize(samples: Sequence[LagSample], window: int) -> list[LagSample]:
    """Samples sorted by time, one per timestamp (the later one wins), last ``window``."""
    by_t: dict[float, LagSample] = {}
    for s in samples:
        by_t[s.t] = s
    ordered = [by_t[t] for t in sorted(by_t)]
    return ordered[-window:]


class _Run(Struct, frozen=True):
    """The trailing run of samples that have a committed offset, as parallel lists."""

    ts: list[float]
    offsets: list[int]
    lags: list[int]

    @classmethod
    def of(cls, samples: list[LagSample]) -> _Run:
        """Take the samples after the last one without a committed offset."""
        i = len(samples)
        while i > 0 and samples[i - 1].committed is not None:
            i -= 1
        tail = samples[i:]
        offsets = [s.committed for s in tail if s.committed is not None]
        lags = [s.lag for s in tail if s.lag is not None]
        return cls([s.t for s in tail], offsets, lags)

    def last_change(self) -> int | None:
        """Index of the latest sample whose offset differs from the one before it."""
        changed = [i for i in range(1, len(self.offsets)) if self.offsets[i] != self.offsets[i - 1]]
        return changed[-1] if changed else None


def evaluate_partition(
    samples: Sequence[LagSample],
    now: float,
    *,
    window: int = DEFAULT_WINDOW,
    min_samples: int | None = None,
    has_member: bool | None = None,
) -> PartitionVerdict:
    """Apply the module's rules, in order, to one partition's samples at time ``now``.

    ``min_samples`` (default ``window``, at least 2) is how many committed samples rules 3-5
    need. ``has_member`` says whether a group member owns the partition (``None``: unknown).
    """
    if window < 2:
        raise ValueError("the Burrow window needs at least 2 samples")
    need = window if min_samples is None else max(2, min(min_samples, window))
    win = _normalize(samples, window)
    if not win:
        return PartitionVerdict(PartitionStatus.UNKNOWN, "no samples yet")
    run = _Run.of(win)
    if not run.ts:
        return _never_committed(win, need)
    verdict = _rule_ok_zero(run, now) or _rule_rewind(run)
    if verdict is None and len(run.ts) < need:
        got = len(run.ts)
        verdict = PartitionStatus.UNKNOWN, f"{got} of {need} samples so far (lag {run.lags[-1]})"
    verdict = verdict or _rule_stop(run, now, has_member) or _rule_stall(run, now)
    verdict = verdict or _rule_warn(run) or _ok_draining(run)
    return PartitionVerdict(*verdict, committed=run.offsets[-1], lag=run.lags[-1])


Rule = tuple[PartitionStatus, str] | None


def _rule_ok_zero(run: _Run, now: float) -> Rule:
    """Rule 1: a lag of 0 anywhere in the window means the consumer keeps up."""
    zeros = [i for i, lag in enumerate(run.lags) if lag == 0]
    if not zeros:
        return None
    if zeros[-1] == len(run.lags) - 1:
        return PartitionStatus.OK, "caught up (lag 0)"
    ago = fmt_duration(now - run.ts[zeros[-1]])
    return PartitionStatus.OK, f"lag was 0 {ago} ago (now {run.lags[-1]})"


def _rule_rewind(run: _Run) -> Rule:
    """Rule 2: the committed offset went down (the latest such drop is reported)."""
    drops = [(a, b) for a, b in pairwise(run.offsets) if b < a]
    if not drops:
        return None
    a, b = drops[-1]
    return PartitionStatus.REWIND, f"committed offset went back from {a} to {b}"


def _rule_stop(run: _Run, now: float, has_member: bool | None) -> Rule:
    """Rule 3: commits stopped for longer than they had been going on in the window."""
    i = run.last_change()
    offset, lag = run.offsets[-1], run.lags[-1]
    if i is None:
        if has_member is not False:
            return None
        return PartitionStatus.STOP, (
            f"no member owns the partition; committed offset {offset} unchanged for "
            f"{fmt_duration(now - run.ts[0])} while lag is {lag}"
        )
    quiet, active = now - run.ts[i], run.ts[i] - run.ts[0]
    if quiet <= active:
        return None
    return PartitionStatus.STOP, (
        f"committed offset {offset} has not moved for {fmt_duration(quiet)}, longer than "
        f"the {fmt_duration(active)} it was moving before (lag {lag})"
    )


def _rule_stall(run: _Run, now: float) -> Rule:
    """Rule 4: the committed offset did not move across the window while lag stayed > 0."""
    if run.last_change() is not None:
        return None
    return PartitionStatus.STALL, (
        f"committed offset {run.offsets[-1]} unchanged for {fmt_duration(now - run.ts[0])} "
        f"while lag is {run.lags[-1]}"
    )


def _rule_warn(run: _Run) -> Rule:
    """Rule 5: the lag never went down across the window."""
    if any(b < a for a, b in pairwise(run.lags)):
        return None
    return PartitionStatus.WARN, (
        f"lag did not decrease in any of the last {len(run.lags)} samples "
        f"(from {run.lags[0]} to {run.lags[-1]})"
    )


def _ok_draining(run: _Run) -> Rule:
    """Rule 6: the consumer commits and the lag went down at least once."""
    return PartitionStatus.OK, (
        f"consuming; lag went down in the window (now {run.lags[-1]}, low {min(run.lags)})"
    )


def _never_committed(win: list[LagSample], need: int) -> PartitionVerdict:
    """Status of a partition whose latest sample has no committed offset."""
    latest = win[-1]
    had = any(s.committed is not None for s in win)
    what = "committed offset disappeared (expired or deleted)" if had else "never committed"
    if latest.log_start is not None and latest.log_end <= latest.log_start:
        return PartitionVerdict(PartitionStatus.OK, f"{what}; the partition holds no records")
    grew = latest.log_end - win[0].log_end
    if len(win) >= need and grew > 0 and not had:
        return PartitionVerdict(
            PartitionStatus.WARN,
            f"{what} while {grew} records arrived in the last {len(win)} samples "
            f"(log end {win[0].log_end} -> {latest.log_end})",
        )
    return PartitionVerdict(PartitionStatus.UNKNOWN, f"{what}; no lag to judge")


def _sort_key(item: tuple[str, int, PartitionVerdict]) -> tuple[int, int, str, int]:
    """Worst status first, then biggest lag, then topic and partition."""
    topic, partition, v = item
    return (-v.status.severity, -(v.lag or 0), topic, partition)


def evaluate_group(
    group: str, verdicts: Mapping[tuple[str, int], PartitionVerdict]
) -> GroupVerdict:
    """The group's status from its partitions' verdicts: the worst one, named in the reason."""
    items = sorted(((t, p, v) for (t, p), v in verdicts.items()), key=_sort_key)
    known = [i for i in items if i[2].status is not PartitionStatus.UNKNOWN]
    if not known:
        reason = "no partitions" if not items else f"collecting samples ({_n(len(items))})"
        return GroupVerdict(group, GroupStatus.UNKNOWN, reason, tuple(items))
    top = items[0][2].status
    if top.is_error:
        status = GroupStatus.ERR
    elif top is PartitionStatus.WARN:
        status = GroupStatus.WARN
    else:
        status = GroupStatus.OK
    return GroupVerdict(group, status, _group_reason(items), tuple(items))


def _group_reason(items: list[tuple[str, int, PartitionVerdict]]) -> str:
    """E.g. "orders.v1[3] STALL: ...; 2 more STALL, 1 WARN" or "all 12 partitions OK"."""
    topic, partition, worst = items[0]
    unknown = sum(1 for i in items if i[2].status is PartitionStatus.UNKNOWN)
    if worst.status in (PartitionStatus.OK, PartitionStatus.UNKNOWN):
        judged = len(items) - unknown
        text = f"all {_n(judged)} OK" if not unknown else f"{_n(judged)} OK"
        return text + (f", {unknown} still collecting samples" if unknown else "")
    parts = [f"{topic}[{partition}] {worst.status.value}: {worst.reason}"]
    rest = items[1:]
    order = sorted(PartitionStatus, key=lambda s: -s.severity)
    for status in order:
        if status in (PartitionStatus.OK, PartitionStatus.UNKNOWN):
            continue
        n = sum(1 for i in rest if i[2].status is status)
        if n:
            more = "more " if status is worst.status else ""
            parts.append(f"{n} {more}{_n(n, bare=True)} {status.value}")
    return "; ".join(parts)


def _n(count: int, *, bare: bool = False) -> str:
    """Count and noun: "3 partitions", "1 partition" (only the noun with ``bare``)."""
    noun = "partition" if count == 1 else "partitions"
    return noun if bare else f"{count} {noun}"


def evaluate_group_samples(
    group: str,
    histories: Mapping[tuple[str, int], Sequence[LagSample]],
    now: float,
    *,
    window: int = DEFAULT_WINDOW,
    min_samples: int | None = None,
    members: Mapping[tuple[str, int], bool] | None = None,
) -> GroupVerdict:
    """Evaluate every partition's samples and combine them into the group's verdict.

    ``members`` maps (topic, partition) to whether a member owns it (missing: unknown).
    """
    owned = members or {}
    verdicts = {
        key: evaluate_partition(
            samples, now, window=window, min_samples=min_samples, has_member=owned.get(key)
        )
        for key, samples in histories.items()
    }
    return evaluate_group(group, verdicts)

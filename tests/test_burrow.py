"""Burrow status rules per partition and per group, with reasons in words (no broker)."""

from __future__ import annotations

import math
import random
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.health.burrow import (
    DEFAULT_WINDOW,
    GroupStatus,
    PartitionStatus,
    PartitionVerdict,
    evaluate_group,
    evaluate_group_samples,
    evaluate_partition,
)
from core.health.lag import LagSample
from core.health.units import fmt_duration

S = PartitionStatus


def series(
    committed: list[int | None], log_end: list[int], dt: float = 10.0, log_start: int | None = None
) -> list[LagSample]:
    """Samples at t = 0, dt, 2dt, ..."""
    assert len(committed) == len(log_end)
    return [
        LagSample(i * dt, c, e, log_start)
        for i, (c, e) in enumerate(zip(committed, log_end, strict=True))
    ]


def ten(values: list[int]) -> list[int]:
    assert len(values) == DEFAULT_WINDOW
    return values


class TestRules:
    def test_zero_lag_anywhere_is_ok(self) -> None:
        committed = [100, 200, 300, 300, 300, 300, 300, 300, 300, 300]
        log_end = [150, 300, 300, 400, 500, 600, 700, 800, 900, 1000]
        v = evaluate_partition(series(committed, log_end), now=100.0)
        assert v.status is S.OK
        assert v.reason == "lag was 0 1 min 20 s ago (now 700)"
        assert (v.committed, v.lag) == (300, 700)

    def test_caught_up_now(self) -> None:
        v = evaluate_partition(series([5, 10], [10, 10]), now=20.0)
        assert (v.status, v.reason) == (S.OK, "caught up (lag 0)")

    def test_rewind(self) -> None:
        committed = [4800, 5000, 10, 20]
        v = evaluate_partition(series(committed, [6000] * 4), now=40.0)
        assert v.status is S.REWIND
        assert v.reason == "committed offset went back from 5000 to 10"

    def test_zero_lag_wins_over_rewind(self) -> None:
        v = evaluate_partition(series([100, 50, 60], [100, 200, 300]), now=30.0)
        assert v.status is S.OK

    def test_stop_when_commits_stopped_longer_than_they_ran(self) -> None:
        committed = [100, 110, 120] + [120] * 7
        log_end = [1000 + 10 * i for i in range(10)]
        v = evaluate_partition(series(committed, log_end), now=90.0)
        assert v.status is S.STOP
        assert v.reason == (
            "committed offset 120 has not moved for 1 min 10 s, longer than the 20 s it was moving "
            "before (lag 970)"
        )

    def test_not_stop_while_quiet_time_is_within_the_active_span(self) -> None:
        committed = [100, 110, 120, 130, 140, 150] + [150] * 4
        log_end = [1000 + 10 * i for i in range(10)]
        # last change at t=50, active 50 s, quiet 45 s: not stopped; lag never fell: WARN
        v = evaluate_partition(series(committed, log_end), now=95.0)
        assert v.status is S.WARN
        assert evaluate_partition(series(committed, log_end), now=101.0).status is S.STOP

    def test_stop_boundary_is_strictly_longer(self) -> None:
        committed = [100, 110, 120, 130, 140, 150] + [150] * 4
        log_end = [1000 + 10 * i for i in range(10)]
        assert evaluate_partition(series(committed, log_end), now=100.0).status is S.WARN
        assert evaluate_partition(series(committed, log_end), now=100.5).status is S.STOP

    def test_stall_when_offset_never_moves_with_lag(self) -> None:
        log_end = [2030 - 3 * (9 - i) for i in range(10)]
        v = evaluate_partition(series([1200] * 10, log_end), now=90.0)
        assert v.status is S.STALL
        assert v.reason == "committed offset 1200 unchanged for 1 min 30 s while lag is 830"
        assert evaluate_partition(series([1200] * 10, log_end), 90.0, has_member=True).status is (
            S.STALL
        )

    def test_unchanged_offset_without_a_member_is_stop(self) -> None:
        v = evaluate_partition(series([1200] * 10, [2000] * 10), now=45.0, has_member=False)
        assert v.status is S.STOP
        assert v.reason == (
            "no member owns the partition; committed offset 1200 unchanged for 45 s "
            "while lag is 800"
        )

    def test_warn_when_lag_never_decreases(self) -> None:
        committed = [100 * i for i in range(10)]
        log_end = [220 + 194 * i for i in range(9)] + [1880]
        v = evaluate_partition(series(committed, log_end), now=95.0)
        assert v.status is S.WARN
        assert v.reason == "lag did not decrease in any of the last 10 samples (from 220 to 980)"

    def test_flat_lag_with_progress_is_warn(self) -> None:
        committed = [100 * i for i in range(10)]
        v = evaluate_partition(series(committed, [c + 50 for c in committed]), now=95.0)
        assert v.status is S.WARN

    def test_ok_when_lag_went_down_once(self) -> None:
        committed = [100 * i for i in range(10)]
        log_end = [c + 500 for c in committed]
        log_end[5] -= 100  # lag 400 at sample 5: it went down from 500
        v = evaluate_partition(series(committed, log_end), now=95.0)
        assert v.status is S.OK
        assert v.reason == "consuming; lag went down in the window (now 500, low 400)"


class TestWindow:
    def test_unknown_until_the_window_is_full(self) -> None:
        v = evaluate_partition(series([10, 10, 10], [50, 50, 50]), now=30.0)
        assert v.status is S.UNKNOWN
        assert v.reason == "3 of 10 samples so far (lag 40)"
        assert evaluate_partition(series([10, 10, 10], [50] * 3), 30.0, min_samples=3).status is (
            S.STALL
        )

    def test_min_samples_is_at_least_two(self) -> None:
        v = evaluate_partition(series([10], [50]), now=30.0, min_samples=1)
        assert v.status is S.UNKNOWN

    def test_no_samples(self) -> None:
        v = evaluate_partition([], now=1.0)
        assert (v.status, v.reason) == (S.UNKNOWN, "no samples yet")

    def test_only_the_last_window_samples_count(self) -> None:
        committed = [500, 10] + [10 + 5 * i for i in range(10)]
        log_end = [1000 + 100 * i for i in range(12)]
        samples = series(committed, log_end)
        assert evaluate_partition(samples, now=115.0, window=12).status is S.REWIND
        assert evaluate_partition(samples, now=115.0).status is S.WARN

    def test_out_of_order_samples_are_sorted(self) -> None:
        samples = series([100, 110, 120] + [120] * 7, [1000 + 10 * i for i in range(10)])
        shuffled = samples[:]
        random.Random(7).shuffle(shuffled)
        assert evaluate_partition(shuffled, 90.0) == evaluate_partition(samples, 90.0)

    def test_duplicate_timestamps_keep_the_later_sample(self) -> None:
        samples = series([1200] * 10, [2000] * 10)
        samples.append(LagSample(samples[-1].t, 1300, 2000))
        v = evaluate_partition(samples, now=90.0)
        assert v.committed == 1300
        assert v.status is S.OK  # the replacing sample moved the offset and cut the lag

    def test_window_must_hold_two(self) -> None:
        with pytest.raises(ValueError):
            evaluate_partition([], 0.0, window=1)


class TestNeverCommitted:
    def test_empty_partition_is_ok(self) -> None:
        v = evaluate_partition(series([None] * 3, [7] * 3, log_start=7), now=30.0)
        assert (v.status, v.reason) == (S.OK, "never committed; the partition holds no records")

    def test_records_arriving_for_a_full_window_is_warn(self) -> None:
        log_end = [100 + 10 * i for i in range(10)]
        v = evaluate_partition(series([None] * 10, log_end, log_start=0), now=95.0)
        assert v.status is S.WARN
        assert v.reason == (
            "never committed while 90 records arrived in the last 10 samples (log end 100 -> 190)"
        )
        assert v.lag is None

    def test_short_or_idle_is_unknown(self) -> None:
        v = evaluate_partition(series([None] * 3, [100, 110, 120]), now=30.0)
        assert (v.status, v.reason) == (S.UNKNOWN, "never committed; no lag to judge")
        idle = evaluate_partition(series([None] * 10, [100] * 10, log_start=0), now=95.0)
        assert idle.status is S.UNKNOWN

    def test_offset_that_disappeared(self) -> None:
        log_end = [100 + 10 * i for i in range(10)]
        v = evaluate_partition(series([50] * 5 + [None] * 5, log_end), now=95.0)
        assert v.status is S.UNKNOWN
        assert v.reason.startswith("committed offset disappeared (expired or deleted)")

    def test_first_commit_starts_a_new_run(self) -> None:
        v = evaluate_partition(series([None] * 7 + [10, 20, 30], [100] * 10), now=95.0)
        assert v.status is S.UNKNOWN
        assert v.reason == "3 of 10 samples so far (lag 70)"


def verdict(status: PartitionStatus, lag: int | None = 10, reason: str = "why") -> PartitionVerdict:
    return PartitionVerdict(status, reason, committed=0, lag=lag)


class TestGroup:
    def test_all_ok(self) -> None:
        g = evaluate_group("g", {("t", 0): verdict(S.OK), ("t", 1): verdict(S.OK)})
        assert (g.status, g.reason) == (GroupStatus.OK, "all 2 partitions OK")
        assert g.worst == ()

    def test_warn(self) -> None:
        g = evaluate_group("g", {("t", 0): verdict(S.OK), ("t", 1): verdict(S.WARN, reason="grew")})
        assert (g.status, g.reason) == (GroupStatus.WARN, "t[1] WARN: grew")

    def test_err_names_the_worst_partition_and_counts_the_rest(self) -> None:
        verdicts = {
            ("orders.v1", 0): verdict(S.STALL, lag=10),
            ("orders.v1", 3): verdict(S.STALL, lag=830, reason="stuck at 1200"),
            ("orders.v1", 5): verdict(S.STALL, lag=20),
            ("payments", 0): verdict(S.WARN),
            ("payments", 1): verdict(S.OK),
        }
        g = evaluate_group("billing", verdicts)
        assert g.status is GroupStatus.ERR
        assert g.reason == (
            "orders.v1[3] STALL: stuck at 1200; 2 more partitions STALL; 1 partition WARN"
        )
        assert [(t, p) for t, p, _ in g.worst] == [
            ("orders.v1", 3),
            ("orders.v1", 5),
            ("orders.v1", 0),
        ]
        assert (g.count(S.STALL), g.count(S.WARN), g.count(S.OK)) == (3, 1, 1)

    @pytest.mark.parametrize("status", [S.STOP, S.STALL, S.REWIND])
    def test_error_statuses_make_err(self, status: PartitionStatus) -> None:
        g = evaluate_group("g", {("t", 0): verdict(status), ("t", 1): verdict(S.WARN)})
        assert g.status is GroupStatus.ERR
        assert g.reason.startswith(f"t[0] {status.value}: ")

    def test_rewind_is_worst(self) -> None:
        verdicts = {("a", 0): verdict(S.STOP, lag=10**6), ("b", 0): verdict(S.REWIND, lag=1)}
        g = evaluate_group("g", verdicts)
        assert g.reason == "b[0] REWIND: why; 1 partition STOP"

    def test_unknown_partitions(self) -> None:
        assert evaluate_group("g", {}).status is GroupStatus.UNKNOWN
        only = evaluate_group("g", {("t", 0): verdict(S.UNKNOWN)})
        assert (only.status, only.reason) == (
            GroupStatus.UNKNOWN,
            "collecting samples (1 partition)",
        )
        mixed = evaluate_group("g", {("t", 0): verdict(S.UNKNOWN), ("t", 1): verdict(S.OK)})
        assert (mixed.status, mixed.reason) == (
            GroupStatus.OK,
            "1 partition OK, 1 still collecting samples",
        )

    def test_from_samples_with_member_map(self) -> None:
        stuck = series([1200] * 10, [2000] * 10)
        histories = {("t", 0): stuck, ("t", 1): stuck}
        g = evaluate_group_samples("g", histories, now=90.0, members={("t", 1): False})
        assert g.status is GroupStatus.ERR
        # Burrow's order puts STALL above STOP
        assert g.partitions[0][:2] == ("t", 0) and g.partitions[0][2].status is S.STALL
        assert g.partitions[1][:2] == ("t", 1) and g.partitions[1][2].status is S.STOP
        assert g.reason.endswith("; 1 partition STOP")


def test_one_duration_format_for_every_view() -> None:
    assert [fmt_duration(x) for x in (0, 45.4, 59.6, 60, 185, 3599, 3600, 7800, -3)] == [
        "0 s", "45 s", "1 min", "1 min", "3 min 5 s", "59 min 59 s", "1 h", "2 h 10 min",
        "0 s"]
    assert (fmt_duration(None), fmt_duration(math.inf)) == ("-", "∞")


# ---- property: the verdict is the first rule that matches, in Burrow's order -------------


def reference_status(
    samples: list[LagSample], now: float, need: int, has_member: bool | None
) -> PartitionStatus:
    """The rules written out plainly, as an oracle (all samples committed, sorted, in window)."""
    offsets = [s.committed for s in samples]
    lags = [s.lag for s in samples]
    if 0 in lags:
        return S.OK
    if any(b < a for a, b in pairwise(offsets)):
        return S.REWIND
    if len(samples) < need:
        return S.UNKNOWN
    changes = [samples[i].t for i in range(1, len(samples)) if offsets[i] != offsets[i - 1]]
    if changes and now - changes[-1] > changes[-1] - samples[0].t:
        return S.STOP
    if not changes:
        return S.STOP if has_member is False else S.STALL
    if all(b >= a for a, b in pairwise(lags)):
        return S.WARN
    return S.OK


windows = st.lists(
    st.tuples(st.integers(1, 30), st.integers(-3, 12), st.integers(0, 12)), min_size=1, max_size=12
)


@given(windows, st.integers(0, 400), st.sampled_from([None, True, False]), st.integers(2, 12))
def test_rules_are_applied_in_order(
    steps: list[tuple[int, int, int]], extra: int, has_member: bool | None, need: int
) -> None:
    samples, t, committed, log_end = [], 0.0, 1000, 1005
    for dt, dc, de in steps:
        t, committed, log_end = t + dt, committed + dc, log_end + de
        samples.append(LagSample(t, committed, log_end))
    now = t + extra
    v = evaluate_partition(samples, now, window=12, min_samples=need, has_member=has_member)
    assert v.status is reference_status(samples, now, need, has_member)
    assert v.reason
    assert (v.committed, v.lag) == (samples[-1].committed, samples[-1].lag)


@given(windows, st.integers(0, 400))
def test_group_status_is_the_worst_partition(steps: list[tuple[int, int, int]], extra: int) -> None:
    histories = {}
    for p in range(3):
        samples, t, committed, log_end = [], 0.0, 1000, 1005
        for dt, dc, de in steps[p:] + steps[:p]:
            t, committed, log_end = t + dt, committed + dc, log_end + de
            samples.append(LagSample(t, committed, log_end))
        histories[("t", p)] = samples
    g = evaluate_group_samples("g", histories, now=t + extra, min_samples=3)
    statuses = [v.status for _, _, v in g.partitions]
    if any(s.is_error for s in statuses):
        assert g.status is GroupStatus.ERR
    elif S.WARN in statuses:
        assert g.status is GroupStatus.WARN
    elif all(s is S.UNKNOWN for s in statuses):
        assert g.status is GroupStatus.UNKNOWN
    else:
        assert g.status is GroupStatus.OK
    severities = [s.severity for s in statuses]
    assert severities == sorted(severities, reverse=True)

"""Time lag by interpolation, rates, time to drain, trend and the sample history (no broker)."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.health.timelag import (
    LagHistory,
    OffsetTimeTable,
    TimeLagKind,
    Trend,
    eta_to_drain,
    in_window,
    lag_trend,
    rate,
    time_lag,
    time_lag_seconds,
)


def table_of(*points: tuple[int, float], maxlen: int = 60) -> OffsetTimeTable:
    table = OffsetTimeTable(maxlen)
    for offset, t in points:
        assert table.add(offset, t)
    return table


# (offset, t): 10 records/s, then idle 20..30, then 10 records/s again
STEPS = table_of((100, 10.0), (200, 20.0), (200, 30.0), (300, 40.0))


class TestOffsetTimeTable:
    def test_interpolates_between_the_samples_around_the_offset(self) -> None:
        assert STEPS.time_of(150) == 15.0
        assert STEPS.time_of(250) == 35.0
        assert STEPS.time_of(101) == pytest.approx(10.1)

    def test_sampled_point_maps_to_its_own_time(self) -> None:
        assert STEPS.time_of(100) == 10.0
        assert STEPS.time_of(300) == 40.0

    def test_flat_run_uses_the_moment_the_end_moved_past_the_offset(self) -> None:
        # the end sat at 200 from t=20 to t=30; the record at 200 was written after t=30
        assert STEPS.time_of(200) == 30.0
        assert STEPS.time_of(199) == pytest.approx(19.9)

    def test_offset_beyond_the_end_is_unknown(self) -> None:
        assert STEPS.time_of(301) is None

    def test_older_than_the_table_is_extrapolated_with_the_oldest_rate(self) -> None:
        found = STEPS.locate(50)
        assert found is not None
        assert found.kind is TimeLagKind.EXTRAPOLATED
        assert found.t == pytest.approx(5.0)  # 10 records/s back from (100, t=10)

    def test_extrapolation_skips_a_flat_start(self) -> None:
        table = table_of((100, 0.0), (100, 10.0), (200, 20.0))
        assert table.time_of(50) == pytest.approx(-5.0)

    def test_never_rising_table_gives_a_lower_bound(self) -> None:
        table = table_of((100, 0.0), (100, 10.0))
        found = table.locate(50)
        assert found is not None
        assert (found.t, found.kind) == (0.0, TimeLagKind.LOWER_BOUND)

    def test_out_of_order_and_duplicate_times_are_ignored(self) -> None:
        table = table_of((100, 10.0), (200, 20.0))
        assert table.add(150, 15.0) is False
        assert table.add(250, 20.0) is False
        assert table.points == ((100, 10.0), (200, 20.0))

    def test_end_offset_going_down_resets_the_table(self) -> None:
        table = table_of((100, 10.0), (200, 20.0))
        assert table.add(5, 30.0) is True
        assert table.points == ((5, 30.0),)
        assert table.resets == 1
        assert table.time_of(2) is None  # one point: unknown

    def test_idle_runs_keep_only_their_first_and_last_sample(self) -> None:
        table = table_of((100, 0.0), (100, 10.0), (100, 20.0), (100, 30.0), (150, 40.0))
        assert table.points == ((100, 0.0), (100, 30.0), (150, 40.0))

    def test_bounded(self) -> None:
        table = table_of((1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), maxlen=3)
        assert table.points == ((2, 2.0), (3, 3.0), (4, 4.0))
        assert len(table) == 3

    def test_needs_room_for_two_points(self) -> None:
        with pytest.raises(ValueError):
            OffsetTimeTable(1)

    def test_empty(self) -> None:
        table = OffsetTimeTable()
        assert table.latest is None
        assert table.time_of(0) is None


class TestTimeLag:
    def test_interpolated(self) -> None:
        lag = time_lag(STEPS, 150, now=50.0)
        assert lag is not None
        assert (lag.seconds, lag.kind, lag.estimate) == (35.0, TimeLagKind.INTERPOLATED, False)
        assert time_lag_seconds(STEPS, 200, now=50.0) == 20.0

    def test_caught_up_is_zero(self) -> None:
        lag = time_lag(STEPS, 300, now=99.0)
        assert lag is not None and lag.seconds == 0.0 and lag.kind is TimeLagKind.CAUGHT_UP
        assert time_lag_seconds(STEPS, 305, now=99.0) == 0.0

    def test_extrapolated_is_flagged_as_estimate(self) -> None:
        lag = time_lag(STEPS, 50, now=50.0)
        assert lag is not None and lag.estimate
        assert lag.seconds == pytest.approx(45.0)

    def test_lower_bound_is_flagged(self) -> None:
        lag = time_lag(table_of((100, 0.0), (100, 10.0)), 40, now=30.0)
        assert lag is not None
        assert (lag.seconds, lag.kind, lag.estimate) == (30.0, TimeLagKind.LOWER_BOUND, True)

    def test_unknown_cases(self) -> None:
        assert time_lag(OffsetTimeTable(), 10, now=1.0) is None
        assert time_lag(STEPS, None, now=50.0) is None
        assert time_lag(STEPS, -1, now=50.0) is None
        one = table_of((100, 10.0))
        assert time_lag(one, 50, now=20.0) is None
        assert time_lag_seconds(one, 100, now=20.0) == 0.0

    def test_never_negative_when_now_is_before_the_sample(self) -> None:
        assert time_lag_seconds(STEPS, 250, now=30.0) == 0.0


increasing_tables = st.lists(
    st.tuples(st.integers(0, 1000), st.floats(0.001, 100.0)), min_size=2, max_size=40
)


def build(steps: list[tuple[int, float]], maxlen: int = 60) -> OffsetTimeTable:
    table = OffsetTimeTable(maxlen)
    offset, t = 1000, 1_000_000.0
    for d_offset, d_t in steps:
        offset, t = offset + d_offset, t + d_t
        table.add(offset, t)
    return table


@given(increasing_tables, st.integers(0, 60_000), st.integers(0, 60_000), st.floats(0, 1e4))
def test_time_lag_is_monotone_non_increasing_in_committed(
    steps: list[tuple[int, float]], a: int, b: int, extra: float
) -> None:
    table = build(steps)
    assume(len(table) >= 2)
    now = table.points[-1][1] + extra
    lo, hi = sorted((a, b))
    lag_lo, lag_hi = time_lag_seconds(table, lo, now), time_lag_seconds(table, hi, now)
    assert lag_lo is not None and lag_hi is not None
    assert lag_lo >= lag_hi >= 0.0


@given(increasing_tables)
def test_interpolation_at_a_sampled_point_returns_its_time(steps: list[tuple[int, float]]) -> None:
    table = build(steps)
    pts = table.points
    for (o, t), (o_next, _) in zip(pts, pts[1:], strict=False):
        if o_next > o:
            assert table.time_of(o) == t
    assert table.time_of(pts[-1][0]) == pts[-1][1]


@given(increasing_tables, st.integers(2, 10))
def test_table_invariants(steps: list[tuple[int, float]], maxlen: int) -> None:
    table = build(steps, maxlen)
    pts = table.points
    assert 1 <= len(pts) <= maxlen
    assert all(t1 > t0 for (_, t0), (_, t1) in zip(pts, pts[1:], strict=False))
    assert all(o1 >= o0 for (o0, _), (o1, _) in zip(pts, pts[1:], strict=False))
    assert not any(a[0] == b[0] == c[0] for a, b, c in zip(pts, pts[1:], pts[2:], strict=False))


@given(increasing_tables, st.integers(0, 999))
def test_a_lower_end_offset_always_resets(steps: list[tuple[int, float]], new: int) -> None:
    table = build(steps)
    t = table.points[-1][1] + 1
    table.add(new, t)
    assert table.points == ((new, t),)


@given(increasing_tables, st.floats(0, 1))
def test_interpolated_time_stays_inside_the_table(steps: list[tuple[int, float]], f: float) -> None:
    table = build(steps)
    (o0, t0), (o1, t1) = table.points[0], table.points[-1]
    found = table.time_of(o0 + int(f * (o1 - o0)))
    assert found is not None and t0 <= found <= t1


class TestRate:
    def test_offsets_per_second(self) -> None:
        assert rate([(0.0, 100), (5.0, 130), (10.0, 200)]) == 10.0

    def test_order_does_not_matter(self) -> None:
        assert rate([(10.0, 200), (0.0, 100)]) == 10.0

    def test_negative_when_going_down(self) -> None:
        assert rate([(0.0, 200), (10.0, 100)]) == -10.0

    def test_unknown(self) -> None:
        assert rate([]) is None
        assert rate([(1.0, 5)]) is None
        assert rate([(1.0, 5), (1.0, 9)]) is None

    def test_in_window(self) -> None:
        samples = [(0.0, 1), (5.0, 2), (10.0, 3), (11.0, 4)]
        assert in_window(samples, now=10.0, window=5.0) == [(5.0, 2), (10.0, 3)]


class TestEta:
    def test_lag_over_net_consume_rate(self) -> None:
        assert eta_to_drain(1000, produce_rate=10.0, consume_rate=60.0) == 20.0

    def test_zero_lag_is_zero(self) -> None:
        assert eta_to_drain(0, 100.0, 1.0) == 0.0
        assert eta_to_drain(0, None, None) == 0.0

    @pytest.mark.parametrize(("produce", "consume"), [(10.0, 10.0), (20.0, 10.0), (0.0, 0.0)])
    def test_never_at_this_rate(self, produce: float, consume: float) -> None:
        assert eta_to_drain(5, produce, consume) == math.inf

    def test_unknown(self) -> None:
        assert eta_to_drain(None, 1.0, 2.0) is None
        assert eta_to_drain(5, None, 2.0) is None
        assert eta_to_drain(5, 1.0, None) is None

    @given(st.integers(1, 10**12), st.floats(0, 1e6), st.floats(1e-3, 1e6))
    def test_eta_times_net_rate_is_lag(self, lag: int, produce: float, surplus: float) -> None:
        consume = produce + surplus
        net = consume - produce
        assume(net > 0)
        eta = eta_to_drain(lag, produce, consume)
        assert eta is not None and math.isfinite(eta)
        assert eta * net == pytest.approx(lag, rel=1e-9)


class TestTrend:
    def test_growing_and_draining(self) -> None:
        up = [(0.0, 100), (10.0, 200), (20.0, 300)]
        assert lag_trend(up, now=20.0, window=60.0) is Trend.GROWING
        down = [(t, lag) for (t, _), (_, lag) in zip(up, reversed(up), strict=True)]
        assert lag_trend(down, now=20.0, window=60.0) is Trend.DRAINING

    def test_noise_around_a_level_is_flat(self) -> None:
        noisy = [(0.0, 1000), (10.0, 1010), (20.0, 995), (30.0, 1005)]
        assert lag_trend(noisy, now=30.0, window=60.0) is Trend.FLAT

    def test_relative_tolerance_is_five_percent_of_mean_lag(self) -> None:
        # mean 102, tolerance 5.1, change 4 -> flat; mean 105, tolerance 5.25, change 10 -> up
        assert lag_trend([(0.0, 100), (10.0, 104)], 10.0, 60.0) is Trend.FLAT
        assert lag_trend([(0.0, 100), (10.0, 110)], 10.0, 60.0) is Trend.GROWING
        assert lag_trend([(0.0, 100), (10.0, 110)], 10.0, 60.0, rel_tolerance=0.2) is Trend.FLAT

    def test_absolute_tolerance_is_one_record(self) -> None:
        assert lag_trend([(0.0, 0), (10.0, 1)], 10.0, 60.0) is Trend.FLAT
        assert lag_trend([(0.0, 0), (10.0, 2)], 10.0, 60.0) is Trend.GROWING
        assert lag_trend([(0.0, 0), (10.0, 0)], 10.0, 60.0) is Trend.FLAT

    def test_only_the_window_counts(self) -> None:
        samples = [(0.0, 5000), (100.0, 10), (110.0, 20), (120.0, 30)]
        assert lag_trend(samples, now=120.0, window=30.0) is Trend.GROWING
        assert lag_trend(samples, now=120.0, window=200.0) is Trend.DRAINING

    def test_future_samples_are_ignored(self) -> None:
        samples = [(0.0, 10), (10.0, 20), (20.0, 1)]
        assert lag_trend(samples, now=10.0, window=60.0) is Trend.GROWING

    def test_unknown(self) -> None:
        assert lag_trend([], 0.0, 10.0) is Trend.UNKNOWN
        assert lag_trend([(0.0, 5)], 0.0, 10.0) is Trend.UNKNOWN
        assert lag_trend([(0.0, 5), (0.0, 9)], 0.0, 10.0) is Trend.UNKNOWN
        assert lag_trend([(0.0, None), (5.0, 9)], 5.0, 10.0) is Trend.UNKNOWN

    @given(st.integers(0, 10**9), st.integers(1, 10**6), st.integers(2, 30), st.floats(0.1, 60))
    def test_linear_series(self, base: int, step: int, n: int, dt: float) -> None:
        change = step * (n - 1)
        mean = base + change / 2
        assume(change > 1.01 * max(1.0, 0.05 * mean))
        up = [(i * dt, base + step * i) for i in range(n)]
        down = [(i * dt, base + step * (n - 1 - i)) for i in range(n)]
        now = (n - 1) * dt
        assert lag_trend(up, now, now + 1) is Trend.GROWING
        assert lag_trend(down, now, now + 1) is Trend.DRAINING


_SAMPLE = st.tuples(
    st.floats(-2, 3, allow_nan=False),  # time step (negative and zero: out of order)
    st.sampled_from(["g", "h"]), st.integers(0, 2),  # group, partition
    st.integers(-3, 40),  # log end change (negative: the topic was recreated)
    st.one_of(st.none(), st.integers(-1, 60)),  # committed (-1: Kafka's "none")
    st.one_of(st.none(), st.integers(0, 5)),  # log start
)


class TestLagHistoryStorage:
    """The compact arrays behave exactly like a plain list of LagSample per key."""

    @given(st.lists(_SAMPLE, max_size=120), st.integers(1, 8))
    def test_same_as_a_list_of_samples(self, steps: list, maxlen: int) -> None:
        from core.health.lag import LagSample

        h = LagHistory(maxlen=maxlen)
        model: dict[tuple[str, int], list[LagSample]] = {}
        t, ends = 0.0, {}
        for dt, g, p, d_end, committed, log_start in steps:
            t += dt
            ends[p] = end = max(0, ends.get(p, 0) + d_end)
            h.record(g, "t", p, committed, end, t, log_start)
            kept = model.setdefault((g, p), [])
            if kept and t <= kept[-1].t:
                continue
            if kept and end < kept[-1].log_end:
                kept.clear()
            kept.append(LagSample(t, None if committed is None or committed < 0 else committed,
                                  end, log_start))
            del kept[:-maxlen]
        for (g, p), kept in model.items():
            assert h.samples(g, "t", p) == tuple(kept)
            assert h.samples(g, "t", p, last=3) == tuple(kept[-3:])
            assert h.latest_committed(g, "t", p) == kept[-1].committed


class TestLagHistory:
    def test_records_and_bounds_samples(self) -> None:
        h = LagHistory(maxlen=3)
        for i in range(5):
            h.record("g", "t", 0, committed=i * 10, log_end=100 + i, t=float(i))
        got = h.samples("g", "t", 0)
        assert [s.t for s in got] == [2.0, 3.0, 4.0]
        assert [s.lag for s in got] == [82, 73, 64]
        assert h.samples("g", "t", 1) == ()
        assert h.keys() == (("g", "t", 0),)

    def test_out_of_order_samples_are_ignored(self) -> None:
        h = LagHistory()
        h.record("g", "t", 0, 10, 100, t=5.0)
        h.record("g", "t", 0, 5, 100, t=4.0)
        h.record("g", "t", 0, 7, 100, t=5.0)
        assert [(s.t, s.committed) for s in h.samples("g", "t", 0)] == [(5.0, 10)]

    def test_negative_commit_is_stored_as_none(self) -> None:
        h = LagHistory()
        h.record("g", "t", 0, -1, 100, t=1.0)
        assert h.samples("g", "t", 0)[0].committed is None

    def test_recreated_topic_restarts_histories(self) -> None:
        h = LagHistory()
        h.record("g", "t", 0, 900, 1000, t=1.0)
        h.record("g", "t", 0, 950, 1000, t=2.0)
        h.record("g", "t", 0, 0, 3, t=3.0)
        assert [s.log_end for s in h.samples("g", "t", 0)] == [3]
        table = h.end_table("t", 0)
        assert table is not None and table.points == ((3, 3.0),)

    def test_time_lag_and_rates(self) -> None:
        h = LagHistory()
        for i, t in enumerate([0.0, 10.0, 20.0]):
            h.record("g", "t", 0, committed=50 + 20 * i, log_end=100 + 100 * i, t=t)
        lag = h.time_lag("g", "t", 0, now=20.0)  # committed 90: end passed 90 before t=0
        assert lag is not None and lag.estimate and lag.seconds == pytest.approx(21.0)
        assert h.consume_rate("g", "t", 0, now=20.0, window=60.0) == 2.0
        assert h.produce_rate("t", 0, now=20.0, window=60.0) == 10.0
        assert h.time_lag("other", "t", 0, now=20.0) is None
        assert h.produce_rate("other", 0, now=20.0, window=60.0) is None

    def test_produce_rate_interpolates_the_window_start(self) -> None:
        h = LagHistory()
        for offset, t in [(100, 0.0), (200, 10.0), (400, 20.0)]:
            h.record_end_offset("t", 0, offset, t)
        assert h.produce_rate("t", 0, now=20.0, window=10.0) == 20.0
        assert h.produce_rate("t", 0, now=20.0, window=15.0) == pytest.approx(250 / 15)

    def test_produce_rate_sees_idle_time_inside_a_collapsed_run(self) -> None:
        h = LagHistory()
        for offset, t in [(100, 0.0), (100, 25.0), (100, 50.0), (200, 60.0)]:
            h.record_end_offset("t", 0, offset, t)
        assert h.produce_rate("t", 0, now=60.0, window=30.0) == pytest.approx(100 / 30)

    def test_evicts_keys_not_seen_for_ttl(self) -> None:
        h = LagHistory(ttl=100.0)
        h.record("old", "t", 0, 1, 10, t=0.0)
        h.record("new", "t", 1, 1, 10, t=150.0)
        assert h.evict(now=150.0) == 2  # ("old", "t", 0) and table ("t", 0)
        assert h.keys() == (("new", "t", 1),)
        assert h.end_table("t", 0) is None and h.end_table("t", 1) is not None
        assert h.evict(now=150.0) == 0

    def test_rejects_empty_history(self) -> None:
        with pytest.raises(ValueError):
            LagHistory(maxlen=0)

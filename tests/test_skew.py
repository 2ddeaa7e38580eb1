"""Partition distribution skew and leaders per broker (no broker)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.health.skew import BrokerLoad, leaders_per_broker, partition_skew


def test_even_spread_is_ok() -> None:
    s = partition_skew([100, 100, 100, 100])
    assert (s.cv, s.max_over_mean, s.hot_partitions, s.level) == (0.0, 1.0, (), "ok")


def test_hand_computed_high() -> None:
    # mean 100, deviations -80 -20 +20 +80 -> variance (6400+400+400+6400)/4 = 3400
    s = partition_skew([20, 80, 120, 180])
    assert s.cv == pytest.approx(math.sqrt(3400) / 100)  # 0.583 > 0.5
    assert s.max_over_mean == pytest.approx(1.8)
    assert s.hot_partitions == ()
    assert s.level == "high"


def test_hand_computed_severe_with_hot_partition() -> None:
    s = partition_skew([10, 10, 10, 90])  # mean 30, max/mean 3
    assert s.max_over_mean == pytest.approx(3.0)
    assert s.hot_partitions == (3,)
    assert s.level == "severe"


def test_severe_wins_even_with_low_cv() -> None:
    # 99 partitions at 100 and one at 300: mean 102, variance 396, cv 0.195, max/mean 2.94
    s = partition_skew([100] * 99 + [300])
    assert s.cv == pytest.approx(math.sqrt(396) / 102)
    assert s.cv < 0.5
    assert s.max_over_mean == pytest.approx(300 / 102)
    assert s.level == "severe"
    assert s.hot_partitions == (99,)


def test_boundary_cv_is_strictly_greater_than_half() -> None:
    s = partition_skew([1, 3])  # mean 2, stddev 1: cv = 0.5 exactly, max/mean 1.5
    assert s.cv == 0.5
    assert s.level == "ok"


def test_boundary_max_over_mean_two_is_severe() -> None:
    s = partition_skew([0, 2])  # mean 1, max/mean 2
    assert s.max_over_mean == 2.0
    assert s.level == "severe"
    assert s.hot_partitions == (1,)


def test_empty_zero_and_single() -> None:
    assert partition_skew([]) == partition_skew([0, 0, 0])
    zero = partition_skew([0, 0, 0])
    assert (zero.cv, zero.max_over_mean, zero.hot_partitions, zero.level) == (0.0, 0.0, (), "ok")
    one = partition_skew([42])
    assert (one.cv, one.max_over_mean, one.hot_partitions, one.level) == (0.0, 1.0, (), "ok")


def test_rates_as_floats() -> None:
    s = partition_skew([0.5, 0.5, 3.0])  # mean 4/3: 3.0 >= 2 x 4/3, max/mean 2.25
    assert s.max_over_mean == pytest.approx(2.25)
    assert s.hot_partitions == (2,)
    assert s.level == "severe"


def test_mapping_keys_are_partition_ids() -> None:
    s = partition_skew({7: 10, 2: 10, 5: 100})
    assert s.hot_partitions == (5,)


@pytest.mark.parametrize("bad", [[1, -1], [float("nan")], {0: -3}])
def test_rejects_negative_or_nan(bad: list[float] | dict[int, float]) -> None:
    with pytest.raises(ValueError):
        partition_skew(bad)


counts = st.lists(st.integers(0, 10**9), max_size=50)


@given(counts)
def test_skew_properties(values: list[int]) -> None:
    s = partition_skew(values)
    assert s.cv >= 0
    if not values or sum(values) == 0:
        assert s.level == "ok" and s.max_over_mean == 0.0
        return
    mean = sum(values) / len(values)
    assert s.max_over_mean == pytest.approx(max(values) / mean)
    assert s.max_over_mean >= 1.0 - 1e-12
    assert s.hot_partitions == tuple(i for i, v in enumerate(values) if v >= 2 * mean)
    expected = "severe" if s.max_over_mean >= 2 else "high" if s.cv > 0.5 else "ok"
    assert s.level == expected


@given(counts, st.integers(1, 1000))
def test_skew_is_scale_invariant(values: list[int], k: int) -> None:
    a, b = partition_skew(values), partition_skew([v * k for v in values])
    assert b.cv == pytest.approx(a.cv, abs=1e-9)
    assert b.max_over_mean == pytest.approx(a.max_over_mean)
    assert b.hot_partitions == a.hot_partitions


def test_leaders_per_broker() -> None:
    parts = [(1, [1, 2, 3]), (2, [2, 3, 1]), (1, [1, 3, 4]), (None, [2, 4]), (-1, [3])]
    loads = leaders_per_broker(parts)
    assert loads == {
        1: BrokerLoad(2, 3),
        2: BrokerLoad(1, 3),
        3: BrokerLoad(0, 4),
        4: BrokerLoad(0, 2),
    }
    assert list(loads) == [1, 2, 3, 4]
    leaders, replicas = loads[1]
    assert (leaders, replicas) == (2, 3)


def test_leader_outside_its_replicas_and_empty() -> None:
    assert leaders_per_broker([(9, [1])]) == {1: BrokerLoad(0, 1), 9: BrokerLoad(1, 0)}
    assert leaders_per_broker([]) == {}


@given(st.lists(st.tuples(st.integers(0, 5), st.lists(st.integers(0, 5), max_size=4, unique=True))))
def test_leaders_and_replicas_add_up(parts: list[tuple[int, list[int]]]) -> None:
    loads = leaders_per_broker(parts)
    assert sum(load.leaders for load in loads.values()) == len(parts)
    assert sum(load.replicas for load in loads.values()) == sum(len(r) for _, r in parts)

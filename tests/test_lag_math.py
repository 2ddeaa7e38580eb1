"""Per-partition lag, data-loss flag and group / group x topic totals (no broker)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.health.lag import (
    LagSample,
    PartitionLag,
    lag_of,
    normalize_committed,
    partition_lag,
    summarize_group,
    summarize_topic,
)


def test_lag_is_log_end_minus_committed_like_consumer_group_command() -> None:
    row = partition_lag("orders", 0, committed=120, log_start=0, log_end=1000)
    assert row.lag == 880
    assert row.data_loss is False
    assert row.records_lost == 0
    assert row.consumable_lag == 880


def test_never_committed_has_no_lag() -> None:
    row = partition_lag("orders", 1, committed=None, log_start=5, log_end=50)
    assert row.committed is None
    assert row.lag is None
    assert row.data_loss is False
    assert row.consumable_lag is None


@pytest.mark.parametrize("marker", [-1, -1001])
def test_negative_committed_means_no_commit(marker: int) -> None:
    row = partition_lag("orders", 0, committed=marker, log_start=0, log_end=10)
    assert row.committed is None
    assert row.lag is None
    assert normalize_committed(marker) is None


def test_committed_above_log_end_is_clamped_to_zero() -> None:
    row = partition_lag("orders", 0, committed=1005, log_start=0, log_end=1000)
    assert row.lag == 0
    assert row.data_loss is False


def test_committed_equal_log_end_is_zero_lag() -> None:
    assert partition_lag("t", 0, 1000, 0, 1000).lag == 0


def test_commit_below_log_start_is_data_loss_and_counts_full_lag() -> None:
    row = partition_lag("orders", 2, committed=100, log_start=400, log_end=1000)
    assert row.data_loss is True
    assert row.lag == 900  # as kafka-consumer-groups prints it
    assert row.records_lost == 300
    assert row.consumable_lag == 600


def test_commit_at_log_start_is_not_data_loss() -> None:
    assert partition_lag("t", 0, 400, 400, 1000).data_loss is False


def test_member_fields_are_kept() -> None:
    row = partition_lag("t", 3, 1, 0, 2, member="m-1", client_id="svc", host="/10.0.0.1")
    assert (row.member, row.client_id, row.host) == ("m-1", "svc", "/10.0.0.1")


def test_rows_are_frozen() -> None:
    row = partition_lag("t", 0, 1, 0, 2)
    with pytest.raises(AttributeError, match="immutable"):
        row.lag = 5  # type: ignore[misc]


def test_lag_sample_lag() -> None:
    assert LagSample(1.0, 10, 25).lag == 15
    assert LagSample(1.0, None, 25).lag is None
    assert LagSample(1.0, 30, 25).lag == 0
    assert lag_of(-1, 25) is None


def _rows() -> list[PartitionLag]:
    return [
        partition_lag("payments", 1, 50, 0, 80),  # 30
        partition_lag("orders", 1, None, 0, 70),  # never committed
        partition_lag("orders", 0, 100, 0, 250),  # 150
        partition_lag("orders", 2, 10, 20, 40),  # 30, data loss
        partition_lag("payments", 0, 5, 0, 5),  # 0
    ]


def test_summarize_group_totals_max_and_per_topic() -> None:
    g = summarize_group("billing", _rows())
    assert g.group == "billing"
    assert g.total_lag == 210
    assert g.max_lag == 150
    assert [t.topic for t in g.topics] == ["orders", "payments"]
    orders = g.topic("orders")
    assert orders is not None
    assert (orders.total_lag, orders.max_lag, orders.partition_count) == (180, 150, 3)
    assert [p.partition for p in orders.partitions] == [0, 1, 2]
    payments = g.topic("payments")
    assert payments is not None
    assert (payments.total_lag, payments.max_lag) == (30, 30)
    assert g.topic("missing") is None
    assert [(p.topic, p.partition) for p in g.partitions] == [
        ("orders", 0),
        ("orders", 1),
        ("orders", 2),
        ("payments", 0),
        ("payments", 1),
    ]
    assert [(p.topic, p.partition) for p in g.data_loss_partitions] == [("orders", 2)]
    assert [(p.topic, p.partition) for p in g.uncommitted_partitions] == [("orders", 1)]


def test_summarize_group_empty() -> None:
    g = summarize_group("idle", [])
    assert (g.total_lag, g.max_lag, g.topics, g.partitions) == (None, None, (), ())


def test_group_with_no_commit_at_all_has_unknown_totals() -> None:
    g = summarize_group(
        "new", [partition_lag("t", 0, None, 0, 10), partition_lag("t", 1, None, 0, 3)]
    )
    assert g.total_lag is None and g.max_lag is None
    assert g.topics[0].total_lag is None


def test_all_caught_up_group_has_zero_not_none() -> None:
    g = summarize_group("ok", [partition_lag("t", 0, 10, 0, 10)])
    assert (g.total_lag, g.max_lag) == (0, 0)


def test_duplicate_partition_is_rejected() -> None:
    rows = [partition_lag("t", 0, 1, 0, 2), partition_lag("t", 0, 1, 0, 3)]
    with pytest.raises(ValueError, match="more than once"):
        summarize_group("g", rows)


def test_summarize_topic_rejects_other_topics() -> None:
    with pytest.raises(ValueError):
        summarize_topic("a", [partition_lag("b", 0, 1, 0, 2)])


offsets = st.integers(min_value=0, max_value=10**12)
row_inputs = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 20),
    st.one_of(st.none(), offsets),
    offsets,
    offsets,
)


@given(committed=st.one_of(st.none(), offsets), log_start=offsets, log_end=offsets)
def test_partition_lag_properties(committed: int | None, log_start: int, log_end: int) -> None:
    row = partition_lag("t", 0, committed, log_start, log_end)
    if committed is None:
        assert row.lag is None and not row.data_loss
    else:
        assert row.lag == max(0, log_end - committed)
        assert row.lag >= 0
        assert row.data_loss == (committed < log_start)


@given(st.lists(row_inputs, max_size=30, unique_by=lambda r: (r[0], r[1])))
def test_group_totals_are_sums_of_known_lags(inputs: list[tuple]) -> None:
    rows = [partition_lag(t, p, c, s, e) for t, p, c, s, e in inputs]
    g = summarize_group("g", rows)
    known = [r.lag for r in rows if r.lag is not None]
    assert g.total_lag == (sum(known) if known else None)
    assert g.max_lag == (max(known) if known else None)
    assert sum(t.total_lag or 0 for t in g.topics) == (g.total_lag or 0)
    assert sum(t.partition_count for t in g.topics) == len(rows)
    topic_maxes = [t.max_lag for t in g.topics if t.max_lag is not None]
    assert g.max_lag == (max(topic_maxes) if topic_maxes else None)

"""The monitor's view of a big cluster must not weigh on Python's garbage collector: a group's
per-partition rows are kept as columns (machine arrays, tuples of strings) that the collector
does not track, and rebuilt as plain rows only when asked for; the view survives the pickle
that carries it from the engine unchanged (BENCHMARKS.md §6)."""

from __future__ import annotations

import gc
import pickle

from core.cluster.snapshot import ClusterSnapshot, GroupInfo, PartitionInfo, TopicInfo
from core.engine.monitor import LagTracker, PartitionHealth
from core.health.burrow import PartitionStatus
from core.health.lag import PartitionLag

TOPICS, PARTITIONS = 20, 10


def _snapshot(t: float, consumed: int) -> ClusterSnapshot:
    topics = {f"t{i}": TopicInfo(f"t{i}", tuple(
        PartitionInfo(f"t{i}", p, 1, (1, 2), (1,), 0, 100 + int(t)) for p in range(PARTITIONS)))
        for i in range(TOPICS)}
    groups = {f"g{i}": GroupInfo(f"g{i}", "Empty", offsets={
        (f"t{i}", p): consumed for p in range(PARTITIONS)}) for i in range(TOPICS)}
    return ClusterSnapshot("c", 1, (), topics, groups, taken_at=t)


def test_per_partition_columns_are_untracked_and_rebuild_their_rows():
    tracker = LagTracker()
    view = None
    for step in range(12):
        view = tracker.observe(_snapshot(1000.0 + step, 10 + step), 1000.0 + step)
    assert view is not None
    # a collection untracks a tuple whose items are untracked by then: a tuple of texts may
    # be seen before the tuples in it (the order of the generations' lists), so twice
    gc.collect()
    gc.collect()
    for g in view.groups.values():
        columns = g.partition_columns
        assert not any(gc.is_tracked(x) for x in (
            columns.ints, columns.floats, columns.flags, columns.texts, *columns.texts))
    rows = [p for g in view.groups.values() for p in g.partition_rows]
    assert len(rows) == TOPICS * PARTITIONS
    assert pickle.loads(pickle.dumps(view, protocol=pickle.HIGHEST_PROTOCOL)) == view

    row = view.groups["g3"].partitions[4]
    assert row.lag == PartitionLag("t3", 4, 21, 0, 1111, 1090, False)
    verdict = row.verdict
    assert verdict.status is PartitionStatus.WARN and verdict.lag == 1090
    assert PartitionHealth.of(row.lag, verdict, row.time_lag_s, row.consume_rate,
                              row.produce_rate, row.time_lag_lower_bound) == row

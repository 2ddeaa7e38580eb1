"""Time lag that tells the truth (issue #16): exact when the record at the committed offset can
be read, a lower bound said as one when that record is gone, unknown when nothing is known —
in `groups`, `group describe` and `health`, with and without --json and --sample.

The records are written with CreateTime set explicitly in the past, so "produced long before
the first sample" needs no sleep: the exact figure must be the records' real age, which
interpolating sampled end offsets could never know. Offset lags are cross-checked with
Kafka's own ConsumerGroupCommand.
"""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from core.cluster.time_lag_exact import CommittedRecord, CommittedRecordTimes, ExactTimeLag
from core.engine.columns import PartitionColumns
from core.engine.time_lag import truthful_time_lag, worst_time_lag
from core.health.timelag import OffsetTimeTable
from core.health.units import fmt_time_lag
from tests.kafka_helpers import commit_offsets, create_topic, kafka_describe, nexus

AGE_S = 900.0  # how old the first record is
RECORDS = 50
SLACK_S = 2.0  # clock reads around one CLI run (start-up, snapshot, fetch)


# ---- the rules, pure ---------------------------------------------------------------------


def _table(*points: tuple[int, float]) -> OffsetTimeTable:
    table = OffsetTimeTable()
    for offset, t in points:
        table.add(offset, t)
    return table


def test_exact_record_wins_over_everything():
    record = CommittedRecord(5, 100.0, exact=True)
    table = _table((10, 900.0), (20, 950.0))  # the commit is older than the table
    assert truthful_time_lag(5, 20, record, table, 1000.0) == ExactTimeLag(900.0, False)


def test_caught_up_is_zero_and_never_committed_is_unknown():
    assert truthful_time_lag(20, 20, None, None, 1000.0) == ExactTimeLag(0.0, False)
    assert truthful_time_lag(None, 20, None, None, 1000.0) is None
    assert truthful_time_lag(-1, 20, None, None, 1000.0) is None


def test_a_commit_inside_the_table_is_interpolated():
    table = _table((10, 900.0), (20, 910.0))
    assert truthful_time_lag(15, 20, None, table, 1000.0) == ExactTimeLag(95.0, False)


def test_a_commit_older_than_the_table_is_a_lower_bound_from_the_oldest_sample():
    # the end offset never moved in the table: the commit was passed before the first sample
    flat = _table((20, 995.0), (20, 1000.0))
    assert truthful_time_lag(5, 20, None, flat, 1000.0) == ExactTimeLag(5.0, True)
    # a rising table: extrapolating by its rate would be a guess; the bound is certain
    rising = _table((20, 990.0), (30, 1000.0))
    assert truthful_time_lag(5, 30, None, rising, 1000.0) == ExactTimeLag(10.0, True)


def test_the_record_after_a_deleted_one_bounds_from_below():
    later = CommittedRecord(10, 400.0, exact=False)
    assert truthful_time_lag(5, 20, later, _table((20, 1000.0)), 1000.0) == ExactTimeLag(
        600.0, True)
    # the larger of two bounds
    flat = _table((20, 100.0), (20, 1000.0))
    assert truthful_time_lag(5, 20, later, flat, 1000.0) == ExactTimeLag(900.0, True)


def test_one_snapshot_without_a_record_is_unknown_not_zero():
    assert truthful_time_lag(5, 50, None, _table((50, 1000.0)), 1000.0) is None
    assert truthful_time_lag(5, 50, None, None, 1000.0) is None


def test_a_group_is_a_lower_bound_when_any_lagging_partition_is_not_exact():
    exact, bound = ExactTimeLag(100.0, False), ExactTimeLag(50.0, True)
    zero = ExactTimeLag(0.0, False)
    assert worst_time_lag([exact, zero], [True, False]) == exact
    assert worst_time_lag([exact, bound], [True, True]) == ExactTimeLag(100.0, True)
    assert worst_time_lag([exact, None], [True, True]) == ExactTimeLag(100.0, True)
    assert worst_time_lag([None, zero], [True, False]) is None  # 0 s would hide the lag
    assert worst_time_lag([zero, zero], [False, False]) == zero
    assert worst_time_lag([None], [False]) is None


def test_the_lower_bound_flag_crosses_the_engine_pipe():
    rows = [("t", p, 5, 0, 50, 45, p == 1, None, None, None, "OK", "r", 5, 45, 1.5 * p, None,
             None, p == 2) for p in range(3)]
    columns = PartitionColumns.of(rows)
    assert columns.column("time_lag_lower_bound") == [False, False, True]
    assert columns.column("data_loss") == [False, True, False]
    assert columns.rows() == tuple(tuple(r) for r in rows)


def test_formats():
    assert fmt_time_lag(None, True) == "-"
    assert fmt_time_lag(5.2, True) == "≥ 5 s"
    assert fmt_time_lag(65, False) == "1 min 5 s"


# ---- on the real broker --------------------------------------------------------------------


def _old_records(bootstrap: str, topic: str, partitions: int = 1) -> dict[int, float]:
    """RECORDS records per partition, record i written (CreateTime) AGE_S - i seconds ago;
    returns offset -> timestamp (s) as the broker stored it (same for every partition)."""
    create_topic(bootstrap, topic, partitions=partitions)
    producer = Producer({"bootstrap.servers": bootstrap})
    first = int((time.time() - AGE_S) * 1000)
    stored: dict[int, float] = {}

    def acked(err, msg) -> None:
        assert err is None, err
        stored[msg.offset()] = msg.timestamp()[1] / 1000.0

    for p in range(partitions):
        for i in range(RECORDS):
            producer.produce(topic, b"x", partition=p, timestamp=first + i * 1000,
                             on_delivery=acked)
    assert producer.flush(30) == 0
    return stored


def _cli_json(*args: str) -> tuple[float, object, float]:
    before = time.time()
    out = nexus(*args, "--json")
    after = time.time()
    assert out.returncode == 0, out.stdout + out.stderr
    return before, json.loads(out.stdout), after


def _delete_records(bootstrap: str, topic: str, before: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_records([TopicPartition(topic, 0, before)]).values():
        future.result(30)


def _assert_offset_lag_as_kafka(bootstrap: str, group: str, ours: dict[tuple[str, int], int]):
    theirs = kafka_describe(bootstrap, group)
    assert {k: int(r.lag) for k, r in theirs.items()} == ours


async def test_the_reader_reads_every_partition_in_chunks_within_its_budget(kafka, unique):
    """Partitions are assigned a chunk at a time (the budget is checked between chunks): all
    seven committed records are read, in three chunks of at most three, each the record at its
    own committed offset with the timestamp the broker stored."""
    ts = _old_records(kafka.bootstrap, unique, partitions=7)
    reader = CommittedRecordTimes(kafka.bootstrap, budget_s=30.0, chunk_partitions=3)
    try:
        keys = [(unique, p, 5 + p) for p in range(7)]
        found = await reader.lookup(keys)
    finally:
        reader.close()
    assert reader.last["chunks"] == 3, reader.last
    assert found == {(unique, p, 5 + p): CommittedRecord(5 + p, ts[5 + p], True)
                     for p in range(7)}
    with pytest.raises(ValueError):
        CommittedRecordTimes(kafka.bootstrap, chunk_partitions=0)


@pytest.mark.parametrize("sample", ["0", "2"])
def test_groups_shows_the_exact_age_of_records_written_long_ago(kafka, unique, sample):
    group = f"{unique}-g"
    ts = _old_records(kafka.bootstrap, unique, partitions=2)
    commit_offsets(kafka.bootstrap, group, {(unique, 0): 5, (unique, 1): RECORDS})
    before, rows, after = _cli_json("groups", "--filter", f"^{group}$", "--sample", sample,
                                    "-b", kafka.bootstrap)
    (row,) = rows
    assert row["total_lag"] == RECORDS - 5
    # the record at offset 5 was written ts[5]; the answer was computed between the clocks
    assert before - ts[5] - SLACK_S <= row["time_lag_s"] <= after - ts[5], (row, ts[5])
    assert row["time_lag_s"] > AGE_S - 10  # not the sampling window, not 0
    assert row["time_lag_is_lower_bound"] is False
    _assert_offset_lag_as_kafka(kafka.bootstrap, group, {(unique, 0): RECORDS - 5,
                                                         (unique, 1): 0})

    human = nexus("groups", "--filter", f"^{group}$", "--sample", sample, "-b", kafka.bootstrap)
    assert human.returncode == 0, human.stderr
    line = human.stdout.splitlines()[1]
    assert "14 min" in line or "15 min" in line, line
    assert "≥" not in line


def test_group_describe_gives_each_partition_its_exact_time_lag(kafka, unique):
    group = f"{unique}-g"
    ts = _old_records(kafka.bootstrap, unique, partitions=2)
    commit_offsets(kafka.bootstrap, group, {(unique, 0): 5, (unique, 1): 30})
    before, data, after = _cli_json("group", "describe", group, "-b", kafka.bootstrap)
    parts = {p["partition"]: p for p in data["partitions"]}
    for p, committed in ((0, 5), (1, 30)):
        assert before - ts[committed] - SLACK_S <= parts[p]["time_lag_s"] <= (
            after - ts[committed]), parts[p]
        assert parts[p]["time_lag_is_lower_bound"] is False
    assert data["time_lag_s"] == parts[0]["time_lag_s"]  # the worst partition
    assert data["time_lag_is_lower_bound"] is False
    _assert_offset_lag_as_kafka(kafka.bootstrap, group, {
        (unique, p["partition"]): p["lag"] for p in data["partitions"]})

    human = nexus("group", "describe", group, "-b", kafka.bootstrap)
    assert human.returncode == 0, human.stderr
    assert "TIME LAG" in human.stdout.splitlines()[1]
    assert "≥" not in human.stdout

    # sampled: the same exact figures, and the partitions' status judged over the window
    before, data, after = _cli_json("group", "describe", group, "--sample", "1", "-b",
                                    kafka.bootstrap)
    parts = {p["partition"]: p for p in data["partitions"]}
    assert before - ts[5] - SLACK_S <= parts[0]["time_lag_s"] <= after - ts[5], parts[0]
    assert parts[0]["time_lag_is_lower_bound"] is False


def test_health_names_the_exact_time_lag_of_records_written_long_ago(kafka, unique):
    group = f"{unique}-g"
    _old_records(kafka.bootstrap, unique)
    commit_offsets(kafka.bootstrap, group, {(unique, 0): 5})
    for sample in ("0", "1"):
        out = nexus("health", "--groups", f"^{group}$", "--topics", f"^{unique}$", "--sample",
                    sample, "--max-time-lag", "600", "--json", "--no-traffic", "-b",
                    kafka.bootstrap)
        assert out.returncode == 2, out.stdout + out.stderr
        reasons = [p["reason"] for p in json.loads(out.stdout)["problems"]
                   if p["subject"] == group and p["reason"].startswith("time lag ")]
        # 895 s behind: over 600 s, and said as the figure it is (no "≥")
        assert len(reasons) == 1 and reasons[0].startswith(("time lag 14 min", "time lag 15 min")
                                                           ), reasons
        assert f"on {unique}[0], over 10 min" in reasons[0], reasons


def test_a_deleted_committed_record_gives_a_lower_bound_said_as_one(kafka, unique):
    group = f"{unique}-g"
    ts = _old_records(kafka.bootstrap, unique)
    commit_offsets(kafka.bootstrap, group, {(unique, 0): 5})
    _delete_records(kafka.bootstrap, unique, 10)  # offsets 0-9 gone: the group's next too
    before, data, after = _cli_json("group", "describe", group, "-b", kafka.bootstrap)
    (part,) = data["partitions"]
    assert part["data_loss"] is True and part["log_start"] == 10
    # the first readable record (offset 10) is younger than the one the group waits for
    assert before - ts[10] - SLACK_S <= part["time_lag_s"] <= after - ts[10], part
    assert part["time_lag_is_lower_bound"] is True
    assert data["time_lag_is_lower_bound"] is True
    _assert_offset_lag_as_kafka(kafka.bootstrap, group, {(unique, 0): part["lag"]})

    _, rows, _ = _cli_json("groups", "--filter", f"^{group}$", "-b", kafka.bootstrap)
    assert rows[0]["time_lag_is_lower_bound"] is True
    assert rows[0]["time_lag_s"] >= AGE_S - 10 - SLACK_S
    human = nexus("groups", "--filter", f"^{group}$", "-b", kafka.bootstrap)
    assert "≥ 14 min" in human.stdout or "≥ 15 min" in human.stdout, human.stdout
    health = nexus("health", "--groups", f"^{group}$", "--topics", f"^{unique}$", "--sample",
                   "0", "--max-time-lag", "60", "-b", kafka.bootstrap)
    assert health.returncode == 2, health.stdout + health.stderr
    assert any(f"group {group}: time lag ≥ 1" in line for line in health.stdout.splitlines()), (
        health.stdout)


def test_nothing_known_is_unknown_and_a_sample_makes_it_a_lower_bound(kafka, unique):
    group = f"{unique}-g"
    _old_records(kafka.bootstrap, unique)
    commit_offsets(kafka.bootstrap, group, {(unique, 0): 5})
    _delete_records(kafka.bootstrap, unique, RECORDS)  # no record left to read a time from
    _, rows, _ = _cli_json("groups", "--filter", f"^{group}$", "-b", kafka.bootstrap)
    assert rows[0]["total_lag"] == RECORDS - 5  # behind, by how long nobody can tell
    assert rows[0]["time_lag_s"] is None and rows[0]["time_lag_is_lower_bound"] is False
    human = nexus("groups", "--filter", f"^{group}$", "-b", kafka.bootstrap)
    assert human.stdout.splitlines()[1].split()[4] == "-", human.stdout
    _assert_offset_lag_as_kafka(kafka.bootstrap, group, {(unique, 0): RECORDS - 5})

    # sampled for 2 s: the log end was past the commit at the first sample, so at least 2 s
    before, rows, after = _cli_json("groups", "--filter", f"^{group}$", "--sample", "2",
                                    "-b", kafka.bootstrap)
    assert rows[0]["time_lag_is_lower_bound"] is True
    assert 1.0 <= rows[0]["time_lag_s"] <= after - before, rows[0]


async def test_the_engine_reads_the_records_in_the_background_never_waiting_for_them(
        kafka, unique):
    from core.engine.monitor import ClusterMonitor
    from tests.kafka_helpers import wait_until

    group = f"{unique}-g"
    ts = _old_records(kafka.bootstrap, unique)
    commit_offsets(kafka.bootstrap, group, {(unique, 0): 5})
    monitor = ClusterMonitor(kafka.bootstrap, topic_filter=f"^{unique}$",
                             group_filter=f"^{group}$", exact_time_lag=True,
                             exact_in_background=True)
    try:
        first = await monitor.refresh()
        # the first refresh did not wait for the record: unknown (one sample), not a guess
        assert first.groups[group].time_lag_s is None
        assert monitor.timings["exact_s"] < 1.0
        views = []

        async def exact() -> bool:
            views.append(await monitor.refresh())
            g = views[-1].groups[group]
            return g.time_lag_s is not None and not g.time_lag_lower_bound

        await wait_until(exact, 30, "the exact time lag from the background read")
        view = views[-1]
        assert abs(view.groups[group].time_lag_s - (view.now - ts[5])) < 0.01
    finally:
        await monitor.close()


def test_a_problem_line_says_the_groups_figure():
    """health's line for a group with one exact and one unknown lagging partition: at least
    the exact one's figure, as the group's own time lag reads."""
    from core.cluster.snapshot import ClusterSnapshot, GroupInfo, PartitionInfo, TopicInfo
    from core.engine.monitor import LagTracker
    from core.engine.problems import Thresholds, cluster_problems

    topic = TopicInfo("t", tuple(PartitionInfo("t", p, 1, (1,), (1,), 0, 50) for p in (0, 1)))
    snap = ClusterSnapshot("c", 1, (), {"t": topic}, {
        "g": GroupInfo("g", "Empty", offsets={("t", 0): 5, ("t", 1): 7})}, taken_at=1000.0)
    records = {("t", 0, 5): CommittedRecord(5, 400.0, exact=True)}  # p1's record not read
    view = LagTracker().observe(snap, 1000.0, records)
    g = view.groups["g"]
    assert (g.time_lag_s, g.time_lag_lower_bound) == (600.0, True)
    (line,) = [p for p in cluster_problems(view, None, 1000.0, Thresholds(max_time_lag_s=60))
               if p.reason.startswith("time lag")]
    assert line.reason == "time lag ≥ 10 min on t[0], over 1 min"


def test_the_dead_letter_problem_names_its_window_as_a_duration():
    """The window of a topic's traffic reads as every other duration ("15 s", "2 min 5 s"),
    not as the float it was measured as."""
    from msgspec import structs

    from core.cluster.snapshot import ClusterSnapshot
    from core.engine.monitor import LagTracker
    from core.engine.problems import cluster_problems
    from core.traffic.window import TopicTraffic

    view = LagTracker().observe(ClusterSnapshot("c", 1, (), {}, {}, 0.0), 1000.0)
    zero = {f.name: 0 for f in structs.fields(TopicTraffic)}
    traffic = [TopicTraffic(**zero | {"topic": f"t{i}.dlq", "role": "dlq", "window_s": w,
                                      "dead_letters": 13, "error_pct": None})
               for i, w in enumerate((14.7249, 125.2))]
    reasons = [p.reason for p in cluster_problems(view, traffic=traffic)]
    assert reasons == ["13 record(s) dead-lettered in the last 15 s",
                       "13 record(s) dead-lettered in the last 2 min 5 s"]

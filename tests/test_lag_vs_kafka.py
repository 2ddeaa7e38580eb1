"""Our lag equals Apache Kafka's own ConsumerGroupCommand --describe on the same cluster,
edge cases included (a commit above the log end, one below the log start, a Stable group with
members). Where we show something else than Kafka's tool, the test says so in an assertion."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from core.cluster.admin import KafkaAdmin
from tests.kafka_helpers import (
    DescribedRow,
    PollingMember,
    commit_offsets,
    create_topic,
    kafka_describe,
    nexus,
    produce_counts,
    wait_until,
)

PARTITIONS = 4


def _offsets(row: DescribedRow) -> tuple[str, str, str]:
    """(CURRENT-OFFSET, LOG-END-OFFSET, LAG) of Kafka's row."""
    return row.current, row.log_end, row.lag


def _ours(rows: list) -> dict[tuple[str, int], tuple[str, str, str]]:
    return {(r.topic, r.partition): ("-" if r.committed is None else str(r.committed),
                                     str(r.log_end), "-" if r.lag is None else str(r.lag))
            for r in rows}


def _describe_json(bootstrap: str, group: str) -> dict[str, Any]:
    out = nexus("group", "describe", group, "-b", bootstrap, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _groups_json(bootstrap: str, group: str) -> dict[str, Any]:
    out = nexus("groups", "--filter", f"^{group}$", "-b", bootstrap, "--json")
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    return row


def _by_partition(data: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(p["topic"], p["partition"]): p for p in data["partitions"]}


async def test_lag_matches_consumer_group_command(kafka, unique):
    topic = unique
    create_topic(kafka.bootstrap, topic, partitions=PARTITIONS)
    produce_counts(kafka.bootstrap, topic, [30, 20, 10, 0])
    partial, at_end, other = f"{unique}-partial", f"{unique}-end", f"{unique}-none"
    # partial commits: p0 half way, p1 at 0, p2 and p3 never committed
    commit_offsets(kafka.bootstrap, partial, {(topic, 0): 15, (topic, 1): 0})
    commit_offsets(kafka.bootstrap, at_end, {(topic, p): n for p, n in enumerate([30, 20, 10, 0])})
    # a group with commits on another topic only: no commits on ours
    create_topic(kafka.bootstrap, f"{topic}-x", partitions=1)
    commit_offsets(kafka.bootstrap, other, {(f"{topic}-x", 0): 0})

    snap = await KafkaAdmin(kafka.bootstrap).snapshot(topic_filter=f"^{unique}")
    for group in (partial, at_end):
        theirs = {k: _offsets(v) for k, v in kafka_describe(kafka.bootstrap, group).items()}
        ours = _ours(snap.partition_lags(group))
        # Kafka lists only the committed partitions of an Empty group; we also list the
        # topic's other partitions, with no commit and no lag ("-"), so none goes unseen
        assert {k: v for k, v in ours.items() if k in theirs} == theirs, group
        assert all(v[0] == "-" and v[2] == "-" for k, v in ours.items() if k not in theirs)
    lags = {(r.topic, r.partition): r.lag for r in snap.partition_lags(partial)}
    assert lags == {(topic, 0): 15, (topic, 1): 20, (topic, 2): None, (topic, 3): None}
    assert snap.group_lag(partial).total_lag == 35
    assert snap.group_lag(at_end).total_lag == 0
    assert {r.topic for r in snap.partition_lags(other)} == {f"{topic}-x"}
    assert _ours(snap.partition_lags(other)) == {
        k: _offsets(v) for k, v in kafka_describe(kafka.bootstrap, other).items()}


async def test_snapshot_describes_active_groups_and_takes_empty_ones_from_the_listing(
        kafka, unique):
    """Empty groups are not described (their listing says it all); active ones are, with
    their members and assignment."""
    topic, idle, active = unique, f"{unique}-idle", f"{unique}-active"
    create_topic(kafka.bootstrap, topic, partitions=2)
    produce_counts(kafka.bootstrap, topic, [4, 6])
    commit_offsets(kafka.bootstrap, idle, {(topic, 0): 1})
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": active,
                         "client.id": "active-client", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    admin = KafkaAdmin(kafka.bootstrap)
    try:
        consumer.subscribe([topic])
        snap = None
        for _ in range(200):  # until the group is Stable with its member (bounded)
            consumer.poll(0.1)
            snap = await admin.snapshot(group_filter=f"^{unique}-")
            group = snap.groups.get(active)
            if group is not None and group.state == "Stable" and group.members:
                break
        assert snap is not None
        group = snap.groups[active]
        assert group.state == "Stable" and group.coordinator == 1
        assert [m.client_id for m in group.members] == ["active-client"]
        assert group.members[0].assignment == ((topic, 0), (topic, 1))
        empty = snap.groups[idle]
        assert (empty.state, empty.members, empty.group_type) == ("Empty", (), "Classic")
        assert empty.offsets == {(topic, 0): 1} and empty.error is None
        described = (await admin.describe_groups([idle]))[idle]
        assert (described.state, described.members, described.offsets) == (
            "Empty", (), {(topic, 0): 1})
    finally:
        consumer.close()


async def test_group_describe_json_shape_and_errors(kafka, unique):
    create_topic(kafka.bootstrap, unique, partitions=2)
    produce_counts(kafka.bootstrap, unique, [5, 3])
    commit_offsets(kafka.bootstrap, unique, {(unique, 0): 2})
    out = nexus("group", "describe", unique, "-b", kafka.bootstrap, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["group"] == unique and data["state"] == "Empty"
    assert data["members"] == [] and data["total_lag"] == 3
    assert data["coordinator"] == 1  # described, though snapshots skip Empty groups' describe
    parts = _by_partition(data)
    assert set(parts) == {(unique, 0), (unique, 1)}
    row = parts[(unique, 0)]
    # time lag: the age of the record at offset 2, just produced (tests/test_time_lag_truth.py
    # checks the figure against records written long ago)
    assert 0 <= row.pop("time_lag_s") < 60 and row.pop("time_lag_is_lower_bound") is False
    assert row == {  # every other field of a row, exactly
        "topic": unique, "partition": 0, "committed": 2, "log_start": 0, "log_end": 5,
        "lag": 3, "member": None, "client_id": None, "host": None, "data_loss": False,
        "status": "UNKNOWN"}  # one snapshot: too few samples to judge
    assert (parts[(unique, 1)]["committed"], parts[(unique, 1)]["lag"]) == (None, None)
    assert parts[(unique, 1)]["time_lag_s"] is None  # never committed: unknown
    assert parts[(unique, 1)]["log_end"] == 3 and parts[(unique, 1)]["member"] is None

    missing = nexus("group", "describe", f"{unique}-nope", "-b", kafka.bootstrap, "--json")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert json.loads(missing.stderr.strip()) == {"error": f"group {unique}-nope does not exist"}


def test_unreachable_cluster_fails_fast_with_one_line():
    out = nexus("groups", "-b", "127.0.0.1:1", "--timeout", "2")
    assert out.returncode == 1
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
    assert "127.0.0.1:1" in out.stderr and "Traceback" not in out.stderr


# ---- edge cases, against ConsumerGroupCommand --describe -----------------------------------------


def test_commit_beyond_the_log_end_shows_lag_0_where_kafka_shows_a_negative_lag(kafka, unique):
    """A commit above the log end (a hand commit, a reset-by-offset tool, a topic recreated
    under its group): Kafka's tool prints end − committed, a negative lag; we clamp it to 0
    (README: "Lag"), and keep the committed offset as it is."""
    create_topic(kafka.bootstrap, unique, partitions=2)
    produce_counts(kafka.bootstrap, unique, [5, 5])
    commit_offsets(kafka.bootstrap, unique, {(unique, 0): 12, (unique, 1): 5})

    theirs = kafka_describe(kafka.bootstrap, unique)
    ours = _by_partition(_describe_json(kafka.bootstrap, unique))
    assert _offsets(theirs[(unique, 0)]) == ("12", "5", "-7")
    assert _offsets(theirs[(unique, 1)]) == ("5", "5", "0")
    for key, row in theirs.items():
        assert str(ours[key]["committed"]) == row.current
        assert str(ours[key]["log_end"]) == row.log_end
        # the difference, on purpose: a negative lag is shown as 0
        assert ours[key]["lag"] == max(0, int(row.lag))
    assert ours[(unique, 0)]["lag"] == 0 and int(theirs[(unique, 0)].lag) < 0
    assert not ours[(unique, 0)]["data_loss"]
    group = _groups_json(kafka.bootstrap, unique)
    assert group["total_lag"] == 0  # Kafka's rows would sum to -7
    assert sum(int(r.lag) for r in theirs.values()) == -7


def test_commit_below_the_log_start_has_kafkas_lag_and_is_flagged_as_data_loss(kafka, unique):
    """Records deleted (DeleteRecords, as retention does) before the group read them: the lag
    is Kafka's end − committed, deleted records included; we also flag the partition
    (`data_loss`), which Kafka's tool does not show."""
    create_topic(kafka.bootstrap, unique, partitions=2)
    produce_counts(kafka.bootstrap, unique, [10, 4])
    commit_offsets(kafka.bootstrap, unique, {(unique, 0): 2, (unique, 1): 1})
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    (deleted,) = admin.delete_records([TopicPartition(unique, 0, 6)]).values()
    assert deleted.result(30).low_watermark == 6  # the new log start

    theirs = kafka_describe(kafka.bootstrap, unique)
    data = _describe_json(kafka.bootstrap, unique)
    ours = _by_partition(data)
    assert _offsets(theirs[(unique, 0)]) == ("2", "10", "8")
    assert set(ours) == set(theirs)
    for key, row in theirs.items():
        assert (str(ours[key]["committed"]), str(ours[key]["log_end"]), str(ours[key]["lag"])
                ) == _offsets(row), key
    assert (ours[(unique, 0)]["log_start"], ours[(unique, 0)]["data_loss"]) == (6, True)
    assert ours[(unique, 1)]["data_loss"] is False
    assert data["total_lag"] == sum(int(r.lag) for r in theirs.values()) == 11
    group = _groups_json(kafka.bootstrap, unique)
    assert (group["total_lag"], group["data_loss_partitions"]) == (11, 1)


async def test_stable_group_with_a_member_matches_kafka_row_by_row(kafka, unique):
    """Every assigned partition, committed or not, with its member's id, client id and host,
    as Kafka's tool prints them for a Stable group."""
    create_topic(kafka.bootstrap, unique, partitions=3)
    produce_counts(kafka.bootstrap, unique, [4, 6, 2])
    commit_offsets(kafka.bootstrap, unique, {(unique, 0): 1, (unique, 1): 6})  # p2: none
    member = PollingMember(kafka.bootstrap, unique, unique, "lag-member")
    admin = KafkaAdmin(kafka.bootstrap)
    try:
        async def stable() -> bool:
            group = await admin.group(unique)
            return (group.state == "Stable" and len(group.members) == 1
                    and len(group.members[0].assignment) == 3)

        await wait_until(stable, 60, "the member to join and get all 3 partitions")
        theirs = kafka_describe(kafka.bootstrap, unique)
        data = _describe_json(kafka.bootstrap, unique)
        group = _groups_json(kafka.bootstrap, unique)
    finally:
        member.stop()
    ours = _by_partition(data)
    assert set(theirs) == set(ours) == {(unique, p) for p in range(3)}
    for key, row in theirs.items():
        mine = ours[key]
        assert ("-" if mine["committed"] is None else str(mine["committed"]),
                str(mine["log_end"]), "-" if mine["lag"] is None else str(mine["lag"])
                ) == _offsets(row), key
        assert (mine["member"], mine["host"], mine["client_id"]) == (
            row.consumer_id, row.host, row.client_id), key
    assert _offsets(theirs[(unique, 2)]) == ("-", "2", "-")  # assigned, never committed
    assert theirs[(unique, 0)].client_id == "lag-member"
    assert (data["state"], [m["client_id"] for m in data["members"]]) == (
        "Stable", ["lag-member"])
    assert data["total_lag"] == 3 and group["total_lag"] == 3
    assert (group["state"], group["members"]) == ("Stable", 1)

"""Our lag equals Apache Kafka's own ConsumerGroupCommand --describe on the same cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core.cluster.admin import KafkaAdmin
from core.local.tools import CONSUMER_GROUP_COMMAND, run_tool
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts

PARTITIONS = 4


def _kafka_describe(bootstrap: str, group: str) -> dict[tuple[str, int], tuple[str, str, str]]:
    """(topic, partition) -> (CURRENT-OFFSET, LOG-END-OFFSET, LAG) as Kafka's tool prints them."""
    out = run_tool(CONSUMER_GROUP_COMMAND, ["--bootstrap-server", bootstrap, "--describe",
                                            "--group", group])
    assert out.returncode == 0, out.stderr
    rows = {}
    for line in out.stdout.splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[0] == group:
            rows[(cols[1], int(cols[2]))] = (cols[3], cols[4], cols[5])
    return rows


def _ours(rows: list) -> dict[tuple[str, int], tuple[str, str, str]]:
    return {(r.topic, r.partition): ("-" if r.committed is None else str(r.committed),
                                     str(r.log_end), "-" if r.lag is None else str(r.lag))
            for r in rows}


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
        theirs = _kafka_describe(kafka.bootstrap, group)
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
    assert _ours(snap.partition_lags(other)) == _kafka_describe(kafka.bootstrap, other)


async def test_snapshot_describes_active_groups_and_takes_empty_ones_from_the_listing(
        kafka, unique):
    """Empty groups are not described (their listing says it all); active ones are, with
    their members and assignment."""
    from confluent_kafka import Consumer

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


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_tui", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))


async def test_group_describe_json_shape_and_errors(kafka, unique):
    create_topic(kafka.bootstrap, unique, partitions=2)
    produce_counts(kafka.bootstrap, unique, [5, 3])
    commit_offsets(kafka.bootstrap, unique, {(unique, 0): 2})
    out = _cli("group", "describe", unique, "-b", kafka.bootstrap, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["group"] == unique and data["state"] == "Empty"
    assert data["members"] == [] and data["total_lag"] == 3
    assert data["coordinator"] == 1  # described, though snapshots skip Empty groups' describe
    parts = {(p["topic"], p["partition"]): p for p in data["partitions"]}
    assert parts[(unique, 0)] | {} == parts[(unique, 0)]
    assert (parts[(unique, 0)]["committed"], parts[(unique, 0)]["lag"]) == (2, 3)
    assert (parts[(unique, 1)]["committed"], parts[(unique, 1)]["lag"]) == (None, None)
    assert parts[(unique, 1)]["log_end"] == 3 and parts[(unique, 1)]["member"] is None

    missing = _cli("group", "describe", f"{unique}-nope", "-b", kafka.bootstrap, "--json")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert json.loads(missing.stderr.strip()) == {"error": f"group {unique}-nope does not exist"}


def test_unreachable_cluster_fails_fast_with_one_line():
    out = _cli("groups", "-b", "127.0.0.1:1", "--timeout", "2")
    assert out.returncode == 1
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
    assert "127.0.0.1:1" in out.stderr and "Traceback" not in out.stderr

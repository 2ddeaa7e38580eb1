"""Topic administration on a real broker, through the CLI, cross-checked with Apache Kafka's
own tools (TopicCommand, ConfigCommand, GetOffsetShell, ConsumerGroupCommand): what we did is
what Kafka reports, bad input applies nothing, and every run is in the audit log."""

from __future__ import annotations

import re
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from core.cluster.admin_plan import key_moves, recent_ranges
from tests.admin_helpers import (
    Cli,
    check_change_recorded,
    describe_topic,
    group_command,
    log_starts,
    run_printed,
    topic_configs,
)
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts


@pytest.fixture
def cli(kafka, tmp_path) -> Cli:
    return Cli(kafka.bootstrap, tmp_path)


def partition_count(described: str) -> int:
    match = re.search(r"PartitionCount: (\d+)", described)
    assert match, described
    return int(match[1])


# ---- create ------------------------------------------------------------------------------------


def test_create_is_what_topic_command_describes(kafka, cli, unique):
    name = f"{unique}.v1"
    data = cli.json("topic", "create", name, "--partitions", "3",
                    "--config", "retention.ms=3600000", "--config", "cleanup.policy=compact")
    assert data["executed"] and data["result"] == {"partitions": 3}
    assert data["kafka_command"].startswith(
        f"kafka-topics.sh --bootstrap-server {kafka.bootstrap} --create --topic {name} "
        "--partitions 3")
    described = describe_topic(kafka.bootstrap, name)
    assert partition_count(described) == 3
    assert "ReplicationFactor: 1" in described
    configs = topic_configs(kafka.bootstrap, name)
    assert "retention.ms=3600000" in configs and "cleanup.policy=compact" in configs
    intent, result = check_change_recorded(cli, "topic.create", "applied")
    assert intent["mode"] == "execute" and intent["args"]["partitions"] == 3
    assert result["result"] == {"partitions": 3}


def test_create_warns_about_the_nexus_naming_scheme(kafka, cli, unique):
    data = cli.json("topic", "create", unique, "--partitions", "1")
    assert any("Nexus naming scheme" in w for w in data["warnings"])
    assert partition_count(describe_topic(kafka.bootstrap, unique)) == 1


@pytest.mark.parametrize("name, expected", [
    ("bad name!", "Kafka allows only ASCII letters"),
    ("x" * 250, "at most 249"),
    ("..", "not allowed"),
])
def test_create_refuses_names_kafka_rejects(cli, name, expected):
    line = cli.error("topic", "create", name, "--partitions", "1")
    assert expected in line
    (intent, result) = cli.last_record()
    assert intent["phase"] == "intent" and expected in intent["error"]
    assert result["outcome"] == "error"


def test_create_refuses_an_existing_topic_and_a_metric_collision(kafka, cli, unique):
    name = f"{unique}.a_b.v1"
    create_topic(kafka.bootstrap, name, partitions=2)
    assert f"topic {name} already exists" in cli.error("topic", "create", name,
                                                       "--partitions", "4")
    clash = name.replace("a_b", "a.b")
    assert "collides with" in cli.error("topic", "create", clash, "--partitions", "1")
    assert partition_count(describe_topic(kafka.bootstrap, name)) == 2  # untouched
    assert "intent" in [e["phase"] for e in cli.entries() if e.get("error")]


def test_create_with_a_replication_factor_the_cluster_cannot_hold_is_one_line(kafka, cli,
                                                                              unique):
    line = cli.error("topic", "create", unique, "--partitions", "1",
                     "--replication-factor", "9")
    assert "INVALID_REPLICATION_FACTOR" in line
    assert group_command(kafka.bootstrap, "--list").returncode == 0
    listed = cli.json("topics", "--filter", unique)
    assert listed == []


# ---- alter -------------------------------------------------------------------------------------


def test_alter_plans_before_after_with_sources_then_matches_config_command(kafka, cli, unique):
    create_topic(kafka.bootstrap, unique, config={"retention.ms": "3600000"})
    plan = cli.json("topic", "alter", unique, "--config", "retention.ms=7200000",
                    "--config", "max.message.bytes=2000000")
    rows = {r["config"]: r for r in plan["rows"]}
    assert rows["retention.ms"] == {"config": "retention.ms", "before": "3600000",
                                    "after": "7200000", "source": "dynamic"}
    assert rows["max.message.bytes"]["source"] == "default"
    assert not plan["executed"]
    assert "retention.ms=3600000" in topic_configs(kafka.bootstrap, unique)  # a dry run
    check_change_recorded(cli, "topic.alter", "planned")

    done = cli.json("topic", "alter", unique, "--config", "retention.ms=7200000",
                    "--config", "max.message.bytes=2000000", "--execute")
    assert done["result"]["configs"] == {"retention.ms": "7200000",
                                         "max.message.bytes": "2000000"}
    configs = topic_configs(kafka.bootstrap, unique)
    assert "retention.ms=7200000" in configs and "max.message.bytes=2000000" in configs
    intent, result = check_change_recorded(cli, "topic.alter", "applied")
    assert intent["before"]["retention.ms"] == "3600000"
    assert intent["after"]["retention.ms"] == "7200000"

    cli.json("topic", "alter", unique, "--delete-config", "retention.ms", "--execute")
    configs = topic_configs(kafka.bootstrap, unique)
    assert "retention.ms" not in configs and "max.message.bytes=2000000" in configs


@pytest.mark.parametrize("option, expected", [
    ("foo.bar=1", "Unknown topic config name: foo.bar"),
    ("retention.ms=abc", "Invalid value abc for configuration retention.ms"),
    ("cleanup.policy=sometimes", "cleanup.policy"),
])
def test_alter_bad_keys_and_values_are_the_brokers_words_and_change_nothing(
        kafka, cli, unique, option, expected):
    create_topic(kafka.bootstrap, unique, config={"retention.ms": "3600000"})
    line = cli.error("topic", "alter", unique, "--config", "retention.ms=60000",
                     "--config", option, "--execute")
    assert expected in line
    assert "retention.ms=3600000" in topic_configs(kafka.bootstrap, unique)  # not half-applied
    intent, result = cli.last_record()
    assert expected in intent["error"] and result["outcome"] == "error"


def test_alter_deletes_only_the_topics_own_overrides_as_kafka_configs_does(kafka, cli, unique):
    create_topic(kafka.bootstrap, unique, config={"retention.ms": "3600000"})
    for key in ("segment.ms", "no.such.key"):
        line = cli.error("topic", "alter", unique, "--delete-config", key, "--execute")
        assert f"--delete-config {key}: not set on topic {unique}" in line
    assert "retention.ms=3600000" in topic_configs(kafka.bootstrap, unique)


def test_alter_an_unknown_topic_is_one_line(cli, unique):
    assert f"topic {unique} does not exist" in cli.error("topic", "alter", unique,
                                                         "--config", "retention.ms=1")


# ---- add partitions ----------------------------------------------------------------------------


def _java_murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2, written independently of core/wire/partitioner.py: Java's int
    arithmetic emulated with explicit wrap-around after every step."""

    def i32(x: int) -> int:
        x &= 0xFFFFFFFF
        return x - (1 << 32) if x >= 1 << 31 else x

    def ushr(x: int, n: int) -> int:
        return (x & 0xFFFFFFFF) >> n

    m, r = i32(0x5BD1E995), 24
    h = i32(0x9747B28C ^ len(data))
    for i in range(len(data) // 4):
        k = i32(data[4 * i] | data[4 * i + 1] << 8 | data[4 * i + 2] << 16
                | data[4 * i + 3] << 24)
        k = i32(k * m)
        k = i32(k ^ ushr(k, r))
        k = i32(k * m)
        h = i32(h * m)
        h = i32(h ^ k)
    rest, tail = len(data) % 4, len(data) // 4 * 4
    if rest == 3:
        h = i32(h ^ (data[tail + 2] << 16))
    if rest >= 2:
        h = i32(h ^ (data[tail + 1] << 8))
    if rest >= 1:
        h = i32(h ^ data[tail])
        h = i32(h * m)
    h = i32(h ^ ushr(h, 13))
    h = i32(h * m)
    return i32(h ^ ushr(h, 15))


def _records(bootstrap: str, topic: str, partitions: int) -> list[tuple[int, int, bytes | None]]:
    """(partition, offset, key) of every record, read with a plain confluent Consumer."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.time_ns()}",
                         "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, done = [], set()
    deadline = time.monotonic() + 60
    while len(done) < partitions and time.monotonic() < deadline:
        for msg in consumer.consume(1000, 0.5):
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    done.add(msg.partition())
                continue
            out.append((msg.partition(), msg.offset(), msg.key()))
    consumer.close()
    assert len(done) == partitions, "did not read every partition to its end"
    return out


def test_add_partitions_estimate_matches_an_independent_murmur2_then_topic_command(
        kafka, cli, unique):
    create_topic(kafka.bootstrap, unique, partitions=3)
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "partitioner": "murmur2_random",
                         "linger.ms": 5})
    for i in range(4000):  # 900 conversations, some records without a key
        producer.produce(unique, key=None if i % 50 == 0 else f"root-{i % 900}".encode(),
                         value=b"{}")
    assert producer.flush(30) == 0

    plan = cli.json("topic", "add-partitions", unique, "--to", "7")
    records = _records(kafka.bootstrap, unique, 3)
    assert len(records) == 4000
    last: dict[bytes, int] = {}
    for partition, _, key in sorted(records, key=lambda r: r[1]):
        if key is not None:
            assert (_java_murmur2(key) & 0x7FFFFFFF) % 3 == partition  # as Java placed them
            last[key] = partition
    moving = {k for k, p in last.items() if (_java_murmur2(k) & 0x7FFFFFFF) % 7 != p}
    assert plan["args"] == {"topic": unique, "to": 7}
    assert f"{len(moving):,} of {len(last):,} recent root ids move" in plan["summary"]
    assert 0 < len(moving) < len(last)
    assert describe_topic(kafka.bootstrap, unique).count("Partition: ") == 3  # a dry run

    done = cli.json("topic", "add-partitions", unique, "--to", "7", "--execute")
    assert done["result"] == {"partitions": 7}
    assert partition_count(describe_topic(kafka.bootstrap, unique)) == 7
    intent, _ = check_change_recorded(cli, "topic.add-partitions", "applied")
    assert intent["before"] == {"partitions": 3} and intent["after"] == {"partitions": 7}


def test_add_partitions_reads_only_the_newest_records(kafka, unique):
    """The estimate's bound, on the key placement alone: the newest records of each
    partition, 10,000 at most in all (the rest of the test is the pure water-filling)."""
    assert recent_ranges({0: 0, 1: 0, 2: 0}, {0: 100, 1: 50_000, 2: 50_000}, 10_000) == {
        0: 0, 1: 50_000 - 4950, 2: 50_000 - 4950}
    assert recent_ranges({0: 10, 1: 0}, {0: 30, 1: 5}, 10_000) == {0: 10, 1: 0}
    moves = key_moves([(0, b"a"), (1, None), (0, b"a")], 1, 2)
    assert (moves.records, moves.keyed, moves.distinct_keys) == (3, 2, 1)


@pytest.mark.parametrize("to", ["2", "3"])
def test_add_partitions_to_fewer_or_as_many_is_refused(kafka, cli, unique, to):
    create_topic(kafka.bootstrap, unique, partitions=3)
    line = cli.error("topic", "add-partitions", unique, "--to", to, "--execute")
    assert "has 3 partitions: --to must be more than 3" in line
    assert partition_count(describe_topic(kafka.bootstrap, unique)) == 3
    intent, result = cli.last_record()
    assert "--to must be more" in intent["error"] and result["outcome"] == "error"


# ---- purge -------------------------------------------------------------------------------------


def test_purge_before_offsets_names_the_groups_that_jump_then_matches_get_offset_shell(
        kafka, cli, unique):
    create_topic(kafka.bootstrap, unique, partitions=3)
    produce_counts(kafka.bootstrap, unique, [10, 20, 5])
    inside, outside = f"{unique}-inside", f"{unique}-outside"
    commit_offsets(kafka.bootstrap, inside, {(unique, 1): 7})
    commit_offsets(kafka.bootstrap, outside, {(unique, 1): 15, (unique, 0): 9})
    plan = cli.json("topic", "purge", unique, "--before-offset", "0:4",
                    "--before-offset", "1:12")
    rows = {r["partition"]: r for r in plan["rows"]}
    assert (rows[0]["removed"], rows[1]["removed"]) == (4, 12)
    assert rows[1]["groups_jumping"] == inside and rows[0]["groups_jumping"] == "-"
    assert [w for w in plan["warnings"] if inside in w] and not [
        w for w in plan["warnings"] if outside in w]
    assert log_starts(kafka.bootstrap, unique) == {0: 0, 1: 0, 2: 0}  # a dry run

    done = cli.json("topic", "purge", unique, "--before-offset", "0:4",
                    "--before-offset", "1:12", "--execute")
    assert done["result"] == {"log_start": {"0": 4, "1": 12}}
    assert log_starts(kafka.bootstrap, unique) == {0: 4, 1: 12, 2: 0}
    intent, _ = check_change_recorded(cli, "topic.purge", "applied")
    assert intent["before"] == {"log_start": {"0": 0, "1": 0}}
    assert intent["after"] == {"log_start": {"0": 4, "1": 12}}


def test_purge_all_and_before_time(kafka, cli, unique):
    create_topic(kafka.bootstrap, unique, partitions=2)
    now_ms = int(time.time() * 1000)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for i in range(6):  # partition 0: 3 records two hours old, 3 new ones
        producer.produce(unique, b"x", partition=0,
                         timestamp=now_ms - (7_200_000 if i < 3 else 0))
    producer.produce(unique, b"y", partition=1, timestamp=now_ms)
    assert producer.flush(30) == 0
    done = cli.json("topic", "purge", unique, "--before-time", "PT1H", "--execute")
    assert done["result"] == {"log_start": {"0": 3}}
    assert log_starts(kafka.bootstrap, unique) == {0: 3, 1: 0}
    done = cli.json("topic", "purge", unique, "--all", "--execute")
    assert log_starts(kafka.bootstrap, unique) == {0: 6, 1: 1}
    assert done["result"] == {"log_start": {"0": 6, "1": 1}}


def test_purge_beyond_the_log_end_is_refused_and_nothing_is_purged(kafka, cli, unique):
    create_topic(kafka.bootstrap, unique, partitions=2)
    produce_counts(kafka.bootstrap, unique, [10, 10])
    line = cli.error("topic", "purge", unique, "--before-offset", "0:5",
                     "--before-offset", "1:11", "--execute")
    assert f"{unique}[1]: offset 11 is beyond the log end 10" in line
    assert log_starts(kafka.bootstrap, unique) == {0: 0, 1: 0}
    assert "beyond the log end" in cli.last_record()[0]["error"]


# ---- delete ------------------------------------------------------------------------------------


def test_delete_shows_the_groups_and_needs_the_name_confirmed(kafka, cli, unique):
    create_topic(kafka.bootstrap, unique, partitions=2)
    commit_offsets(kafka.bootstrap, f"{unique}-g", {(unique, 0): 0})
    plan = cli.json("topic", "delete", unique)
    assert plan["before"]["groups"] == [f"{unique}-g"] and not plan["executed"]
    assert "--confirm" in cli.error("topic", "delete", unique, "--execute")
    assert "--confirm" in cli.error("topic", "delete", unique, "--execute",
                                    "--confirm", unique + "x")
    assert partition_count(describe_topic(kafka.bootstrap, unique)) == 2
    cli.json("topic", "delete", unique, "--execute", "--confirm", unique)
    check_change_recorded(cli, "topic.delete", "applied")
    listed = cli.json("topics", "--filter", f"^{re.escape(unique)}$")
    assert listed == []


@pytest.mark.parametrize("name", ["__consumer_offsets", "__transaction_state", "__mine"])
def test_internal_topics_are_never_deleted_or_purged(cli, name):
    assert "internal topic" in cli.error("topic", "delete", name, "--execute", "--confirm", name)
    assert "internal topic" in cli.error("topic", "purge", name, "--all", "--execute")


# ---- the Kafka commands the plans print --------------------------------------------------------


def test_the_printed_kafka_commands_do_what_we_do(kafka, cli, unique, tmp_path):
    """Each plan's Kafka command, run as printed on a twin topic, leaves the twin as our
    --execute leaves ours (configs with a list value, partitions, log starts)."""
    ours, theirs = f"{unique}-ours", f"{unique}-theirs"
    for name in (ours, theirs):
        create_topic(kafka.bootstrap, name, partitions=2, config={"segment.ms": "3600000"})
        produce_counts(kafka.bootstrap, name, [6, 6])
    steps = [("alter", "--config", "retention.ms=5000000",
              "--config", "cleanup.policy=compact,delete", "--delete-config", "segment.ms"),
             ("add-partitions", "--to", "4"),
             ("purge", "--before-offset", "0:2", "--before-offset", "1:3")]
    for command, *args in steps:
        plan = cli.json("topic", command, ours, *args)
        done = run_printed(plan["kafka_command"].replace(ours, theirs), tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        cli.json("topic", command, ours, *args, "--execute")
    assert topic_configs(kafka.bootstrap, ours).replace(ours, theirs) == topic_configs(
        kafka.bootstrap, theirs)
    assert "cleanup.policy=compact,delete" in topic_configs(kafka.bootstrap, theirs)
    assert partition_count(describe_topic(kafka.bootstrap, theirs)) == 4
    assert log_starts(kafka.bootstrap, ours) == log_starts(kafka.bootstrap, theirs) == {
        0: 2, 1: 3, 2: 0, 3: 0}

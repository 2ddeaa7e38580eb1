"""`nexus-tui exporter` on the real broker: every lag series equals Kafka's own
ConsumerGroupCommand, time lag is the exact figure (or absent, or a lower bound), bad
configuration is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from core.local.tools import CONSUMER_GROUP_COMMAND, run_tool
from tests.exporter_helpers import Scrape, exporter_process
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts, wait_until

PARTITIONS = 4


def _kafka_rows(bootstrap: str, group: str) -> dict[tuple[str, int], list[str]]:
    """(topic, partition) -> [CURRENT-OFFSET, LOG-END-OFFSET, LAG, CONSUMER-ID, HOST,
    CLIENT-ID] as Kafka's ConsumerGroupCommand --describe prints them."""
    # its own request timeout is 5 s: too short on a machine shared by many sessions
    out = run_tool(CONSUMER_GROUP_COMMAND, ["--bootstrap-server", bootstrap, "--describe",
                                            "--group", group, "--timeout", "60000"],
                   timeout=300)
    assert out.returncode == 0, out.stderr
    rows = {}
    for line in out.stdout.splitlines():
        cols = line.split()
        if len(cols) >= 9 and cols[0] == group:
            rows[(cols[1], int(cols[2]))] = cols[3:9]
    assert rows, f"ConsumerGroupCommand printed no rows: {out.stdout} {out.stderr[-1000:]}"
    return rows


def _series_by_partition(scrape: Scrape, name: str, group: str) -> dict[tuple[str, int], dict]:
    return {(dict(k)["topic"], int(dict(k)["partition"])): {**dict(k), "value": v}
            for k, v in scrape.values(name, group=group).items()}


async def test_every_lag_series_equals_consumer_group_command(kafka, unique):
    topic = unique
    create_topic(kafka.bootstrap, topic, partitions=PARTITIONS)
    produce_counts(kafka.bootstrap, topic, [30, 20, 10, 0])
    partial, active = f"{unique}-partial", f"{unique}-active"
    commit_offsets(kafka.bootstrap, partial, {(topic, 0): 15, (topic, 1): 0})
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": active,
                         "client.id": "exporter-test-client", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 60
        while not consumer.assignment():  # joined, partitions assigned (bounded)
            consumer.poll(0.1)
            assert time.monotonic() < deadline, "the consumer never got its partitions"
        consumer.commit(offsets=[TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 20),
                                 TopicPartition(topic, 2, 1)], asynchronous=False)
        with exporter_process("-b", kafka.bootstrap, "--interval", "0.5",
                              "--topics", f"^{unique}$", "--groups", f"^{unique}-") as exp:
            scrape: Scrape | None = None

            def collected() -> bool:
                nonlocal scrape
                scrape = exp.scrape()
                lags = scrape.values("kafka_consumergroup_group_lag", group=active)
                return len(lags) == 3 and bool(
                    scrape.values("kafka_consumergroup_group_lag", group=partial))

            await wait_until(collected, 30, "both groups' lag series")
            assert scrape is not None
            for group in (partial, active):
                theirs = _kafka_rows(kafka.bootstrap, group)
                lag = _series_by_partition(scrape, "kafka_consumergroup_group_lag", group)
                offset = _series_by_partition(scrape, "kafka_consumergroup_group_offset", group)
                committed = {k: v for k, v in theirs.items() if v[0] != "-"}
                assert set(lag) == set(committed) == set(offset), group  # unknown: absent
                for key, (current, log_end, kafka_lag, consumer_id, host, client_id) in (
                        committed.items()):
                    assert lag[key]["value"] == int(kafka_lag), (group, key)
                    assert offset[key]["value"] == int(current), (group, key)
                    latest = scrape.one("kafka_partition_latest_offset", topic=key[0],
                                        partition=str(key[1]))
                    assert latest == int(log_end)
                    member = lag[key]
                    assert member["consumer_id"] == ("" if consumer_id == "-" else consumer_id)
                    assert member["member_host"] == ("" if host == "-" else host)
                    assert member["client_id"] == ("" if client_id == "-" else client_id)
                    assert member["cluster_name"] == kafka.bootstrap
                total = sum(int(v[2]) for v in committed.values())
                assert scrape.one("kafka_consumergroup_group_sum_lag", group=group) == total
                assert scrape.one("kafka_consumergroup_group_max_lag", group=group) == max(
                    int(v[2]) for v in committed.values())
                assert scrape.one("kafka_consumergroup_group_topic_sum_lag", group=group,
                                  topic=topic) == total
            assert {dict(k)["client_id"] for k in scrape.values(
                "kafka_consumergroup_group_lag", group=active)} == {"exporter-test-client"}
            assert scrape.one("kafka_partition_earliest_offset", topic=topic,
                              partition="0") == 0
            assert scrape.one("nexus_exporter_cluster_up", cluster_name=kafka.bootstrap) == 1
            assert scrape.one("nexus_exporter_collection_errors") == 0
            assert scrape.one("nexus_consumergroup_members", group=active) == 1
            status, body = exp.healthz()
            assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        consumer.close()


async def test_time_lag_is_exact_for_records_produced_long_before_the_first_sample(
        kafka, unique):
    """Records written an hour ago (their timestamps say so): the very first collection says
    ~3,600 s, where an interpolation over sampled end offsets knows nothing yet. A group whose
    record was deleted gets a lower bound only, never the exact series."""
    topic, old, caught_up, deleted = unique, f"{unique}-old", f"{unique}-zero", f"{unique}-del"
    at_start = f"{unique}-start"  # committed offset 0: the record at offset 0 (was missed)
    create_topic(kafka.bootstrap, topic, partitions=2)
    hour_ago_ms = int((time.time() - 3600) * 1000)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for i in range(10):
        producer.produce(topic, f"v{i}".encode(), partition=0, timestamp=hour_ago_ms + i * 1000)
        producer.produce(topic, f"w{i}".encode(), partition=1, timestamp=hour_ago_ms + i * 1000)
    assert producer.flush(30) == 0
    commit_offsets(kafka.bootstrap, old, {(topic, 0): 3})
    commit_offsets(kafka.bootstrap, caught_up, {(topic, 0): 10})
    commit_offsets(kafka.bootstrap, deleted, {(topic, 1): 2})
    commit_offsets(kafka.bootstrap, at_start, {(topic, 0): 0})
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for fut in admin.delete_records([TopicPartition(topic, 1, 6)]).values():
        fut.result(30)  # records 0..5 of partition 1 are gone: group `deleted` lost its record

    with exporter_process("-b", kafka.bootstrap, "--interval", "30",
                          "--topics", f"^{unique}$", "--groups", f"^{unique}-") as exp:
        scrape: Scrape | None = None

        def collected() -> bool:
            nonlocal scrape
            scrape = exp.scrape()
            return bool(scrape.values("kafka_consumergroup_group_lag", group=old))

        await wait_until(collected, 30, "the first collection")
        assert scrape is not None
        finished = scrape.one("nexus_exporter_last_success_timestamp_seconds")
        assert finished is not None
        exact = scrape.one("kafka_consumergroup_group_lag_seconds", group=old)
        assert exact is not None
        assert abs(exact - (finished - (hour_ago_ms + 3000) / 1000)) < 0.01, exact
        assert scrape.one("kafka_consumergroup_group_max_lag_seconds", group=old) == exact
        assert scrape.one("kafka_consumergroup_group_lag_seconds", group=caught_up) == 0
        first = scrape.one("kafka_consumergroup_group_lag_seconds", group=at_start)
        assert first is not None and abs(first - (finished - hour_ago_ms / 1000)) < 0.01, first
        # the record at the commit is gone: only a lower bound (from the first one left)
        assert scrape.one("kafka_consumergroup_group_lag_seconds", group=deleted) is None
        assert scrape.one("kafka_consumergroup_group_max_lag_seconds", group=deleted) is None
        bound = scrape.one("nexus_consumergroup_group_lag_seconds_lower_bound", group=deleted)
        assert bound is not None
        assert abs(bound - (finished - (hour_ago_ms + 6000) / 1000)) < 0.01, bound
        # never committed partitions: no offset, no lag, no time lag
        assert scrape.values("kafka_consumergroup_group_lag", group=old, partition="1") == {}
        assert scrape.values("kafka_consumergroup_group_lag_seconds", group=old,
                             partition="1") == {}


async def test_no_partition_metrics_keeps_group_series_only(kafka, unique):
    create_topic(kafka.bootstrap, unique, partitions=2)
    produce_counts(kafka.bootstrap, unique, [5, 5])
    commit_offsets(kafka.bootstrap, unique, {(unique, 0): 1, (unique, 1): 2})
    with exporter_process("-b", kafka.bootstrap, "--interval", "0.5", "--no-partition-metrics",
                          "--topics", f"^{unique}$", "--groups", f"^{unique}$") as exp:
        scrape: Scrape | None = None

        def collected() -> bool:
            nonlocal scrape
            scrape = exp.scrape()
            return scrape.one("kafka_consumergroup_group_sum_lag", group=unique) is not None

        await wait_until(collected, 30, "the first collection")
        assert scrape is not None
        assert scrape.one("kafka_consumergroup_group_sum_lag", group=unique) == 7
        for name in ("kafka_consumergroup_group_lag", "kafka_consumergroup_group_offset",
                     "kafka_consumergroup_group_lag_seconds", "kafka_partition_latest_offset"):
            assert scrape.values(name) == {}, name
        assert scrape.one("kafka_consumergroup_group_max_lag_seconds", group=unique) is not None


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_tui", *args], capture_output=True,
                          text=True, timeout=60, env=env or dict(os.environ))


def test_bad_configuration_is_one_line(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[contexts.a]\nbootstrap = "127.0.0.1:9092"\n')
    env = {**os.environ, "NEXUS_TUI_CONFIG": str(config)}
    for args, expect in [
        (("--context", "nope"), "unknown context 'nope'"),
        (("--listen", "nowhere"), "--listen 'nowhere': expected HOST:PORT"),
        (("--groups", "(", "-b", "127.0.0.1:9092"), "--groups '(' is not a valid regex"),
        (("-b", "127.0.0.1:9092", "-b", "127.0.0.1:9092"), "given twice"),
    ]:
        out = _cli("exporter", "--listen", "127.0.0.1:0", *args, env=env)
        assert out.returncode == 1, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], (
            args, out.stderr)


async def test_unreachable_cluster_at_start_is_one_line_and_the_exporter_serves_on(kafka):
    with exporter_process("-b", "127.0.0.1:1", "-b", kafka.bootstrap, "--timeout", "1",
                          "--interval", "0.5", "--groups", "^$", "--topics", "^$") as exp:
        def both_known() -> bool:
            s = exp.scrape()
            return (s.one("nexus_exporter_collection_failures", cluster_name="127.0.0.1:1")
                    or 0) >= 2 and s.one("nexus_exporter_cluster_up",
                                         cluster_name=kafka.bootstrap) == 1

        await wait_until(both_known, 30, "a failed and a good collection")
        scrape = exp.scrape()
        assert scrape.one("nexus_exporter_cluster_up", cluster_name="127.0.0.1:1") == 0
        status, body = exp.healthz()
        health = json.loads(body)
        assert status == 503 and health["status"] == "stale"
        assert health["clusters"][kafka.bootstrap]["fresh"] is True
        assert "127.0.0.1:1" in health["clusters"]["127.0.0.1:1"]["error"]
        lines = [line for line in exp.stderr().splitlines() if "127.0.0.1:1" in line
                 and "serving" not in line]
        assert len(lines) == 1, lines  # once, not once per attempt
        assert "Traceback" not in exp.stderr()
        assert exp.proc.poll() is None

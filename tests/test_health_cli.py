"""`nexus-tui health` on the real broker: its verdict, exit code and reasons."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from confluent_kafka.admin import AdminClient

from tests.kafka_helpers import commit_offsets, create_topic, produce_counts
from tests.test_faults import heal
from tests.test_timelag_live import Paced


def _health(*args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_tui", "health", *args],
                          capture_output=True, text=True, timeout=timeout,
                          env=env or dict(os.environ))


def _scoped(bootstrap: str, unique: str) -> list[str]:
    return ["-b", bootstrap, "--topics", f"^{unique}", "--groups", f"^{unique}"]


def test_healthy_cluster_is_ok_exit_0(kafka, unique):
    create_topic(kafka.bootstrap, unique, partitions=2)
    produce_counts(kafka.bootstrap, unique, [5, 5])
    commit_offsets(kafka.bootstrap, unique, {(unique, 0): 5, (unique, 1): 5})
    out = _health(*_scoped(kafka.bootstrap, unique), "--sample", "1", "--json",
                  "--max-time-lag", "1")
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert data["verdict"] == "OK" and data["problems"] == []
    assert data["checked"]["groups"] == 1 and data["checked"]["topics"] == 1
    human = _health(*_scoped(kafka.bootstrap, unique), "--sample", "0")
    assert human.returncode == 0 and human.stdout.startswith("OK: 1 group(s), 1 topic(s)")


def test_stopped_consumer_with_growing_lag_is_err_with_its_reasons(kafka, unique):
    create_topic(kafka.bootstrap, unique, partitions=1)
    producer = Paced(kafka.bootstrap, unique)
    producer.thread.start()
    try:
        produce_counts(kafka.bootstrap, unique, [1])  # offset 0 exists before the commit
        commit_offsets(kafka.bootstrap, unique, {(unique, 0): 1})  # then the consumer stops
        out = _health(*_scoped(kafka.bootstrap, unique), "--sample", "3", "--json",
                      "--max-time-lag", "1")
    finally:
        producer.stop.set()
        producer.thread.join(10)
    assert out.returncode == 2, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert data["verdict"] == "ERR"
    reasons = [p["reason"] for p in data["problems"] if p["subject"] == unique]
    assert any(r.startswith("ERR: ") and "STOP" in r and "no member" in r for r in reasons), (
        reasons)
    assert any(r.startswith("time lag ") and "over 1 s" in r for r in reasons), reasons
    human = _health(*_scoped(kafka.bootstrap, unique), "--sample", "0", "--max-time-lag", "1")
    assert human.returncode == 2
    lines = human.stdout.splitlines()
    assert lines[0].startswith("ERR: ") and any(
        line.startswith(f"ERR  group {unique}: time lag ") for line in lines[1:]), lines


def test_unreachable_cluster_is_3_in_one_line():
    out = _health("-b", "127.0.0.1:1", "--timeout", "1", "--sample", "0")
    assert out.returncode == 3
    assert out.stdout.startswith("UNKNOWN: cannot reach") and len(
        out.stdout.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
    data = json.loads(_health("-b", "127.0.0.1:1", "--timeout", "1", "--json").stdout)
    assert data["verdict"] == "UNKNOWN" and data["exit_code"] == 3 and "127.0.0.1:1" in data[
        "error"]


def test_unknown_context_is_3_in_one_line(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[contexts.a]\nbootstrap = "127.0.0.1:9092"\n')
    out = _health("--context", "nope", env={**os.environ, "NEXUS_TUI_CONFIG": str(config)})
    assert out.returncode == 3 and out.stdout.startswith("UNKNOWN: unknown context 'nope'")
    assert len(out.stdout.strip().splitlines()) == 1


@pytest.mark.cluster3
def test_broker_down_is_err(kafka3, unique):
    assert kafka3.local is not None
    create_topic(kafka3.bootstrap, unique, partitions=3, rf=3)
    kafka3.local.kill_broker(3)
    try:
        admin = AdminClient({"bootstrap.servers": kafka3.bootstrap})
        deadline = time.monotonic() + 60  # the controller fences a dead broker after its
        while 3 in admin.list_topics(timeout=10).brokers:  # session timeout, not at once
            assert time.monotonic() < deadline, "broker 3 still in the metadata after 60 s"
            time.sleep(0.2)  # poll interval of the deadline-bounded condition above
        out = _health("-b", kafka3.bootstrap, "--topics", f"^{unique}$", "--groups", "^$",
                      "--sample", "0", "--json", "--timeout", "5")
        assert out.returncode == 2, out.stdout + out.stderr
        problems = json.loads(out.stdout)["problems"]
        assert {"severity": "ERR", "kind": "broker", "subject": "3",
                "reason": "down: a replica of 3 partition(s), not alive in the cluster"} in (
            problems), problems
    finally:
        heal(kafka3)  # broker 3 back, every replica in sync, for the next cluster3 test


def test_error_replies_over_the_ratio_and_dead_letters_are_reported(kafka, unique):
    """Nexus traffic during the sample: every reply an error reply, records dead-lettered."""
    import threading

    from confluent_kafka import Producer

    from core import Envelope

    req, res = f"{unique}.req.v1", f"{unique}.res.v1"
    dlq = req + ".dlq"
    for topic in (req, res, dlq):
        create_topic(kafka.bootstrap, topic, partitions=1)
    stop = threading.Event()

    def traffic() -> None:  # a request, its error reply and a dead letter every 0.1 s
        producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 0})
        while not stop.is_set():
            q = Envelope.new_root(f"{unique}.caller.v1", req, {"i": 1}, reply_to=res)
            producer.produce(req, q.encode(), key=q.key)
            e = q.reply_error("boom")
            producer.produce(res, e.encode(), key=e.key)
            producer.produce(dlq, q.encode(), key=q.key)
            producer.poll(0)
            stop.wait(0.1)  # the pace of the traffic
        producer.flush(10)

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    try:
        out = _health("-b", kafka.bootstrap, "--topics", f"^{unique}", "--groups", "^$",
                      "--sample", "5", "--max-error-ratio", "0.05", "--json")
    finally:
        stop.set()
        thread.join(10)
    assert out.returncode == 2, out.stdout + out.stderr
    problems = {(p["severity"], p["subject"]): p["reason"]
                for p in json.loads(out.stdout)["problems"] if p["kind"] == "traffic"}
    assert "(100.0%, over 5.0%)" in problems[("ERR", res)], problems
    assert "dead-lettered" in problems[("WARN", dlq)], problems

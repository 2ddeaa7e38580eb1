"""The local real Kafka cluster: produce/consume through it, 3 brokers, and its error paths."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from core.errors import LocalClusterError
from core.local import LocalCluster
from core.local.cluster import port_listening
from tests.kafka_helpers import create_topic


def test_produce_and_consume_through_the_real_broker(kafka, unique):
    create_topic(kafka.bootstrap, unique, 3, 1)
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all"})
    sent = {f"k{i}".encode(): f"v{i}".encode() for i in range(100)}
    for key, value in sent.items():
        producer.produce(unique, value, key)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": unique,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([unique])
    got: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 30
    while len(got) < len(sent) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            got[msg.key()] = msg.value()
    consumer.close()
    assert got == sent


@pytest.mark.cluster3
def test_three_brokers_and_a_replicated_topic(kafka3, unique):
    admin = AdminClient({"bootstrap.servers": kafka3.bootstrap})
    assert sorted(admin.list_topics(timeout=10).brokers) == [1, 2, 3]
    create_topic(kafka3.bootstrap, unique, 3, 3)
    deadline = time.monotonic() + 30
    while True:  # ISR fills as followers catch up: wait on the condition
        parts = admin.list_topics(unique, timeout=10).topics[unique].partitions
        # this client may ask a broker whose metadata does not have the topic's partitions yet
        # (create_topic waited on another one's): no partitions is not "every ISR full"
        full = len(parts) == 3 and all(len(p.isrs) == 3 for p in parts.values())
        if full or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # the poll interval
    assert len(parts) == 3
    for p in parts.values():
        assert sorted(p.replicas) == [1, 2, 3]
        assert sorted(p.isrs) == [1, 2, 3]


# ---- the CLI and its error paths ----------------------------------------------------------

def _cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_tui", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The CLI's environment with its own state dir, so it never touches a user's cluster."""
    return dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))


def _one_clear_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_cli_lifecycle_double_up_and_down_with_nothing_up(cli_env):
    up = _cli(["local", "up", "--json"], cli_env)
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    ports = [b["port"] for b in info["brokers"]] + [b["controller_port"] for b in info["brokers"]]
    pids = [b["pid"] for b in info["brokers"]]
    try:
        again = _cli(["local", "up"], cli_env)
        assert "already up" in _one_clear_line(again)
        status = _cli(["local", "status", "--json"], cli_env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["healthy"] is True
    finally:
        down = _cli(["local", "down"], cli_env)
    assert down.returncode == 0, down.stderr
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)
    assert not any(port_listening(p) for p in ports)
    assert not Path(info["data_dir"]).exists()
    nothing = _cli(["local", "down"], cli_env)
    assert "no local cluster is up" in _one_clear_line(nothing)
    assert "no local cluster is up" in _one_clear_line(_cli(["local", "status"], cli_env))


def test_cli_says_which_given_port_is_taken(cli_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _cli(["local", "up", "--port", str(port - 1)], cli_env)
    line = _one_clear_line(proc)
    assert f"port {port} is already in use" in line
    assert not (Path(cli_env["XDG_STATE_HOME"]) / "nexus-tui" / "local" / "state.json").exists()


def test_cli_without_java_says_what_to_install(cli_env, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in cli_env.items() if k != "JAVA_HOME"}
    env["PATH"] = str(empty)
    line = _one_clear_line(_cli(["local", "up"], env))
    assert "java not found" in line
    assert "openjdk" in line and "docker" in line.lower()


def test_cli_without_maven_when_jars_are_missing(cli_env, tmp_path):
    env = dict(cli_env, XDG_CACHE_HOME=str(tmp_path / "empty-cache"))
    java_dir = Path(subprocess.run(["sh", "-c", "command -v java"], capture_output=True,
                                   text=True).stdout.strip()).resolve().parent
    env["PATH"] = str(java_dir)
    line = _one_clear_line(_cli(["local", "up"], env))
    assert "mvn not found" in line and "maven" in line


def test_a_broker_that_exits_during_start_shows_its_log(tmp_path, monkeypatch):
    from core.local import cluster as cluster_module

    with socket.socket() as taken:  # the broker's port is held by someone else: it cannot bind
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        held = taken.getsockname()[1]
        free = cluster_module._os_free_ports(1)[0]
        monkeypatch.setattr(cluster_module, "choose_ports", lambda brokers, port: [held, free])
        cluster = LocalCluster(state_dir=tmp_path / "state")
        with pytest.raises(LocalClusterError) as err:
            cluster.up(brokers=1, timeout=60)
    message = str(err.value)
    assert "broker 1 exited during start" in message
    assert "Address already in use" in message
    assert cluster.load_state() is None


def test_bad_broker_setting_is_one_readable_line(tmp_path):
    cluster = LocalCluster(state_dir=tmp_path / "state")
    with pytest.raises(LocalClusterError) as err:
        cluster.up(brokers=1, extra_config={"num.network.threads": "0"})
    message = str(err.value)
    assert message.startswith("formatting node 1 failed")
    assert "num.network.threads" in message and "\tat " not in message
    assert cluster.load_state() is None

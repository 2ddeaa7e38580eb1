"""Small real-broker helpers for tests: create topics, read records back, wait on conditions."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from core.local.tools import CONSUMER_GROUP_COMMAND, run_tool

ROOT = Path(__file__).resolve().parent.parent


def create_topic(bootstrap: str, name: str, partitions: int = 1, rf: int = 1,
                 config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, rf, config=config or {})])[name].result(30)
    deadline = time.monotonic() + 30  # metadata propagates: wait until the topic is visible
    while len(getattr(admin.list_topics(timeout=10).topics.get(name), "partitions", ())) < (
        partitions
    ):
        assert time.monotonic() < deadline, f"topic {name} never appeared"


def read_all(bootstrap: str, topic: str, expect: int, timeout: float = 60) -> list[Message]:
    """Every record of `topic` from the beginning, once `expect` have arrived (or timeout)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.time_ns()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    md = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, 0) for p in md.partitions])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(out) < expect and time.monotonic() < deadline:
        for msg in consumer.consume(1000, 0.5):
            if msg.error() is None:
                out.append(msg)
    consumer.close()
    return out


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "end-offsets"})
    md = consumer.list_topics(topic, timeout=10).topics[topic]
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in md.partitions}
    consumer.close()
    return ends


async def wait_until(cond: Callable[[], bool | Awaitable[bool]], timeout: float = 30,
                     what: str = "condition") -> None:
    """Poll `cond` until true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = cond()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)  # polling interval of the deadline-bounded wait


def produce_counts(bootstrap: str, topic: str, per_partition: list[int]) -> None:
    """`per_partition[p]` small records into partition p, all acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition, count in enumerate(per_partition):
        for i in range(count):
            producer.produce(topic, f"v{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def commit_offsets(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit these offsets for `group` (which stays Empty: the consumer never subscribes)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                    asynchronous=False)
    consumer.close()


def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """`group`'s committed offsets as the broker stores them, read with confluent-kafka's
    AdminClient (OffsetFetch), independent of our own admin code."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    listed = result[group].result(30)
    return {(tp.topic, tp.partition): tp.offset for tp in listed.topic_partitions
            if tp.error is None and tp.offset >= 0}


@dataclass(frozen=True)
class DescribedRow:
    """One row of ConsumerGroupCommand --describe, as Kafka's tool prints it ("-" kept)."""

    current: str
    log_end: str
    lag: str
    consumer_id: str
    host: str
    client_id: str


def kafka_describe(bootstrap: str, group: str) -> dict[tuple[str, int], DescribedRow]:
    """(topic, partition) -> the row Apache Kafka's `kafka-consumer-groups --describe` prints."""
    out = run_tool(CONSUMER_GROUP_COMMAND, ["--bootstrap-server", bootstrap, "--describe",
                                            "--group", group])
    assert out.returncode == 0, out.stdout + out.stderr
    rows: dict[tuple[str, int], DescribedRow] = {}
    for line in out.stdout.splitlines():
        cols = line.split()
        if len(cols) == 9 and cols[0] == group:
            rows[(cols[1], int(cols[2]))] = DescribedRow(*cols[3:])
    return rows


#: The program names we may print for Kafka's consumer-group tool; all run the same class.
CONSUMER_GROUP_PROGRAMS = ("kafka-consumer-groups.sh", "kafka-consumer-groups")


def run_printed_command(command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a `kafka-consumer-groups ...` line exactly as we print it: shell-split, the program
    name mapped onto ConsumerGroupCommand from the jars, every argument as printed."""
    program, *args = shlex.split(command)
    assert program in CONSUMER_GROUP_PROGRAMS, f"not Kafka's consumer-group tool: {program}"
    return run_tool(CONSUMER_GROUP_COMMAND, args, timeout=timeout)


def nexus(*args: str, timeout: float = 120,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`nexus-tui ARGS...` through the real entry point (`python -m nexus_tui`), as a user
    runs it."""
    return subprocess.run([sys.executable, "-m", "nexus_tui", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env=env if env is not None else dict(os.environ))


class PollingMember:
    """A subscribed consumer polling in a thread, never committing: its group is Stable, with
    this member, until stop()."""

    def __init__(self, bootstrap: str, group: str, topic: str, client_id: str) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                  "client.id": client_id, "enable.auto.commit": False,
                                  "auto.offset.reset": "latest"})
        self.consumer.subscribe([topic])
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.stopping.is_set():
            self.consumer.poll(0.1)
        self.consumer.close()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(30)

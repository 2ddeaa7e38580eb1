"""Small real-broker helpers for tests: create topics, read records back, wait on conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


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

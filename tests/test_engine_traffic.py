"""The traffic watcher in the engine process (core/engine/process.py), on the real broker:
exact counts, a new engine after the old one died, told every topic again, and a topic it
tails deleted: it stays deleted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import psutil

from core import ConnectionSettings, Envelope, KafkaPublisher
from core.engine.child import CHILD_NICENESS
from core.engine.process import EngineProcess
from tests.admin_helpers import TOPIC_COMMAND, broker_setting, kafka_tool, listed_topics
from tests.child_helpers import call_held_in_child, gone
from tests.kafka_helpers import create_topic, wait_until


async def _published(bootstrap: str, envelopes: list[Envelope]) -> None:
    async with KafkaPublisher(bootstrap) as pub:
        await pub.publish_many(envelopes)


async def test_counts_from_the_engine_and_a_new_engine_after_it_died(kafka, unique):
    req, res = f"{unique}.req", f"{unique}.res"
    create_topic(kafka.bootstrap, req, partitions=3)
    create_topic(kafka.bootstrap, res, partitions=2)
    engine = EngineProcess(ConnectionSettings(bootstrap=kafka.bootstrap, request_timeout_s=5),
                           topic_filter=f"^{unique}", group_filter=f"^{unique}")
    latest: dict[str, object] = {}

    async def reading_shows(check) -> bool:
        latest["r"] = reading = (await engine.refresh()).traffic
        return check(reading)

    try:
        first = (await engine.refresh(watch=[req, res], positioned=True)).traffic
        assert first.stats[req].messages == 0 and first.stats[res].messages == 0
        child = engine.pid
        assert child is not None and psutil.Process(child).ppid() == os.getpid()
        # a background worker: the CPU goes to the process the user looks at first
        assert psutil.Process(child).nice() == min(19, os.nice(0) + CHILD_NICENESS)

        requests = [Envelope.new_root("t.caller.v1", req, {"i": i}, reply_to=res)
                    for i in range(20)]
        replies = [q.reply_error(f"boom {i}") if i < 4 else q.reply({"ok": i})
                   for i, q in enumerate(requests[:10])]
        await _published(kafka.bootstrap, requests)
        await _published(kafka.bootstrap, replies)
        await wait_until(lambda: reading_shows(
            lambda r: r.stats[req].requests == 20 and r.stats[res].replies == 10), 30, "counted")
        reading = latest["r"]
        assert (reading.stats[res].error_replies, reading.stats[req].answered) == (4, 10)
        assert {e.error for e in reading.recent_errors} == {f"boom {i}" for i in range(4)}

        os.kill(child, signal.SIGKILL)
        await wait_until(lambda: engine._proc is not None
                         and engine._proc.returncode is not None, 10, "the death noticed")
        again = (await engine.refresh(positioned=True)).traffic  # a new engine, told both
        assert engine.restarts == 1 and engine.pid not in (None, child)
        assert again.stats[req].messages == 0 and again.stats[res].messages == 0
        await _published(kafka.bootstrap, requests[:5])
        await wait_until(lambda: reading_shows(lambda r: r.stats[req].requests == 5), 30,
                         "counted by the new engine")

        # a call cancelled while its request is in the engine (stopped, so the answer cannot
        # come first): that engine is out of step and replaced; the next answer is its own
        child = engine.pid
        assert child is not None
        pending = await call_held_in_child(engine, engine.refresh())
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        os.kill(child, signal.SIGCONT)
        fresh = (await engine.refresh(positioned=True)).traffic
        assert engine.restarts == 2 and engine.pid != child
        assert fresh.stats[req].messages == 0  # a new engine's own answer, counting from now
        child = engine.pid
    finally:
        await engine.close()
    assert gone(child)


async def test_a_topic_the_engine_tails_stays_deleted(kafka, unique):
    """On a broker that auto-creates topics (Kafka's default), a Nexus topic and its `.dlq`
    that the engine's watcher reads are deleted: neither comes back over several refreshes
    (Kafka's TopicCommand --list), and the watcher reads the topic again once it is
    re-created."""
    assert broker_setting(kafka.bootstrap, "auto.create.topics.enable") == "true"
    topic = f"{unique}.orders.v1"
    dlq = f"{topic}.dlq"
    create_topic(kafka.bootstrap, topic, partitions=3)
    create_topic(kafka.bootstrap, dlq)
    engine = EngineProcess(ConnectionSettings(bootstrap=kafka.bootstrap, request_timeout_s=5),
                           topic_filter=f"^{unique}", group_filter=f"^{unique}",
                           traffic_options={"metadata_interval_s": 1.0})

    def listed() -> set[str]:
        return listed_topics(kafka.bootstrap) & {topic, dlq}

    try:
        first = await engine.refresh(positioned=True)  # watches the view's Nexus topics
        assert {topic, dlq} <= set(first.traffic.stats)
        await _published(kafka.bootstrap, [Envelope.new_root("t.caller.v1", topic, {"i": 1})])
        await wait_until(lambda: _events(engine, topic, 1), 30, "the event counted")
        kafka_tool(TOPIC_COMMAND, "--bootstrap-server", kafka.bootstrap, "--delete",
                   "--topic", topic)
        kafka_tool(TOPIC_COMMAND, "--bootstrap-server", kafka.bootstrap, "--delete",
                   "--topic", dlq)
        for _ in range(4):  # refresh cycles while the watcher notices and drops it
            await engine.refresh()
            assert listed() == set()
        # it may come back only when someone creates it: then it is read again
        create_topic(kafka.bootstrap, topic, partitions=2)
        await engine.refresh()
        await _published(kafka.bootstrap, [Envelope.new_root("t.caller.v1", topic, {"i": 2})])
        await wait_until(lambda: _events(engine, topic, 2), 60, "the re-created topic read")
        assert listed() == {topic}
    finally:
        await engine.close()


async def _events(engine: EngineProcess, topic: str, count: int) -> bool:
    return (await engine.refresh()).traffic.stats[topic].events == count

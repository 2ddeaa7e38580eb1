"""The traffic watcher in the engine process (core/engine/process.py), on the real broker:
exact counts, and a new engine after the old one died, told every topic again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import psutil

from core import ConnectionSettings, Envelope, KafkaPublisher
from core.engine.child import CHILD_NICENESS
from core.engine.process import EngineProcess
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

"""TrafficWatcher and `nexus-tui errors` on the real broker: exact counts, no group, the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time

import pytest
from confluent_kafka.admin import AdminClient

from core import ConnectionSettings, Envelope, KafkaPublisher
from core.messaging.subscriber import DLQ_HEADERS
from core.traffic.watcher import TrafficWatcher
from core.traffic.window import TopicRole
from tests.kafka_helpers import create_topic, wait_until

T0 = 10_000.0
NS = 1_000_000
BUCKET_PRECISION = 2 ** (1 / 32) - 1  # half a latency bucket, relative


class ManualClock:
    """The watcher's clock, moved by the test."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _groups(bootstrap: str) -> set[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups(request_timeout=10).result()
    return {g.group_id for g in listed.valid}


def _dead_letter_headers(i: int) -> list[tuple[str, bytes]]:
    values = (f"handler failed: boom {i}", "3", "orig.topic.v1", "0", str(i),
              "2026-01-01T00:00:00.000+00:00")
    return [(name, value.encode()) for name, value in zip(DLQ_HEADERS, values, strict=True)]


async def test_controlled_stream_gives_exact_counts_shares_rates_and_latency(kafka, unique):
    req, res = f"{unique}.req", f"{unique}.res"
    dlq = req + ".dlq"
    create_topic(kafka.bootstrap, req, partitions=3)
    create_topic(kafka.bootstrap, res, partitions=2)
    create_topic(kafka.bootstrap, dlq, partitions=1)
    clock = ManualClock()
    base_ns = time.time_ns()
    requests = [Envelope.new_root("t.caller.v1", req, {"i": i}, reply_to=res,
                                  now_ns=base_ns + i * NS) for i in range(200)]
    events = [Envelope.new_root("t.caller.v1", req, {"event": i}) for i in range(10)]
    # replies to the first 150 requests, i + 1 ms after them; the first 30 are error replies
    replies = [(q.reply_error(f"boom {i}", now_ns=q.created_at + (i + 1) * NS) if i < 30
                else q.reply({"ok": i}, now_ns=q.created_at + (i + 1) * NS))
               for i, q in enumerate(requests[:150])]
    async with TrafficWatcher(kafka.bootstrap, [req, res], window_s=60, unanswered_after_s=1,
                              clock=clock, refresh_s=0.1) as watcher:
        await watcher.positioned()
        assert watcher.watched == {req: TopicRole.WATCHED, res: TopicRole.WATCHED,
                                   dlq: TopicRole.DEAD_LETTER}
        async with KafkaPublisher(kafka.bootstrap) as pub:
            await pub.publish_many(requests + events)
            for i in range(20):
                await pub.publish_raw(req, f"not an envelope {i}".encode(), b"k")
            for i in range(25):
                await pub.publish_raw(dlq, requests[i].encode(), requests[i].key,
                                      _dead_letter_headers(i))
            await wait_until(lambda: watcher.stats()[req].messages == 230, 30, "requests seen")
            await pub.publish_many(replies)
        await wait_until(lambda: watcher.stats()[res].replies == 150, 30, "replies seen")
        await wait_until(lambda: watcher.stats()[dlq].dead_letters == 25, 30, "dead letters")
        await wait_until(lambda: len(watcher.recent_dead_letters()) > 0
                         and watcher.recent_dead_letters()[-1].offset == 24, 30, "dlq tail")
        clock.t = T0 + 10  # 10 s of (fake) time: the 50 unanswered requests time out
        stats = watcher.stats()
        dead_letters = watcher.recent_dead_letters()
        errors = watcher.recent_errors()

    r, s, d = stats[req], stats[res], stats[dlq]
    assert (r.messages, r.requests, r.events, r.undecodable) == (230, 200, 10, 20)
    assert (r.unanswered, r.answered, r.answered_with_error, r.pending) == (50, 150, 30, 0)
    assert (s.messages, s.replies, s.error_replies, s.requests) == (150, 150, 30, 0)
    assert s.error_pct == pytest.approx(20.0)
    assert r.window_s == pytest.approx(10) and s.window_s == pytest.approx(10)
    assert r.requests_per_s == pytest.approx(20.0)
    assert r.undecodable_per_s == pytest.approx(2.0)
    assert r.events_per_s == pytest.approx(1.0)
    assert s.error_replies_per_s == pytest.approx(3.0)
    assert s.replies_per_s == pytest.approx(15.0)
    assert d.dead_letters == 25 and d.dlq_inflow_per_s == pytest.approx(2.5)
    assert r.dlq_inflow_per_s == pytest.approx(2.5)
    # latency: deltas 1..150 ms; nearest rank p50 = 75 ms, p99 = 149 ms
    assert r.latency_samples == 150
    assert r.latency_p50_ms == pytest.approx(75, rel=BUCKET_PRECISION)
    assert r.latency_p99_ms == pytest.approx(149, rel=BUCKET_PRECISION)
    assert len(errors) == 30
    assert {e.error for e in errors} == {f"boom {i}" for i in range(30)}
    assert {e.request_id for e in errors} == {q.id for q in requests[:30]}
    assert all((e.topic, e.request_topic) == (res, req) for e in errors)
    assert 1 <= len(dead_letters) <= 25
    ids = {q.id: i for i, q in enumerate(requests[:25])}
    for dl in dead_letters:
        i = ids[dl.envelope_id]
        assert (dl.topic, dl.offset, dl.error, dl.attempts) == (dlq, i, f"handler failed: boom {i}",
                                                               3)
        assert (dl.original_topic, dl.original_offset) == ("orig.topic.v1", i)


async def test_watcher_never_joins_a_group_and_works_read_only(kafka, unique):
    topic = f"{unique}.evt"
    create_topic(kafka.bootstrap, topic, partitions=2)
    before = _groups(kafka.bootstrap)
    read_only = ConnectionSettings(bootstrap=kafka.bootstrap, read_only=True)
    async with TrafficWatcher(read_only, [topic], refresh_s=0.1) as watcher:
        await watcher.positioned()
        async with KafkaPublisher(kafka.bootstrap) as pub:
            await pub.publish_many(Envelope.new_root("t.src.v1", topic, i) for i in range(50))
        await wait_until(lambda: watcher.stats()[topic].events == 50, 30, "events seen")
        during = _groups(kafka.bootstrap)
    after = _groups(kafka.bootstrap)
    assert during - before == set()
    assert after - before == set()
    assert not any(watcher.client_id in g for g in after)


async def test_reply_topics_are_followed_without_missing_the_first_replies(kafka, unique):
    req, res = f"{unique}.req", f"{unique}.res"
    create_topic(kafka.bootstrap, req, partitions=2)
    create_topic(kafka.bootstrap, res, partitions=2)
    requests = [Envelope.new_root("t.caller.v1", req, i, reply_to=res) for i in range(20)]
    async with TrafficWatcher(kafka.bootstrap, [req], refresh_s=0.1) as watcher:
        await watcher.positioned()
        assert res not in watcher.watched
        async with KafkaPublisher(kafka.bootstrap) as pub:
            # Requests and replies are produced in one burst, so the replies are in the reply
            # topic before the watcher (which learns of it from the requests) follows it: it
            # must read the reply topic from (a little before) the requests' timestamps.
            # (Acks are awaited only after the whole burst: their latency on a loaded machine
            # must not open a gap between the two.)
            burst = [pub.publish_nowait(q) for q in requests]
            burst += [pub.publish_nowait(q.reply("ok", now_ns=q.created_at + 5 * NS))
                      for q in requests]
            await asyncio.gather(*burst)
        await wait_until(lambda: watcher.stats()[req].answered == 20, 30, "replies matched")
        stats = watcher.stats()
        assert watcher.watched[res] is TopicRole.REPLY
        assert {p for t, p in watcher.assignment if t == res} == {0, 1}
    assert stats[res].replies == 20 and stats[res].role == "reply"
    assert stats[req].pending == 0
    assert stats[req].latency_p50_ms == pytest.approx(5, rel=BUCKET_PRECISION)


async def test_topics_created_later_are_picked_up_from_when_they_were_asked_for(
        kafka, unique):
    req, res, later = f"{unique}.req", f"{unique}.late", f"{unique}.later"
    create_topic(kafka.bootstrap, req)
    request = Envelope.new_root("t.caller.v1", req, None, reply_to=res)
    async with TrafficWatcher(kafka.bootstrap, [req, later], refresh_s=0.1,
                              metadata_interval_s=0.2) as watcher:
        await watcher.positioned()
        assert watcher.missing_topics == [later]
        async with KafkaPublisher(kafka.bootstrap) as pub:
            await pub.publish(request)
            await wait_until(lambda: res in watcher.missing_topics, 30, "reply topic missing")
            create_topic(kafka.bootstrap, res)
            create_topic(kafka.bootstrap, later)
            # produced at once: before the watcher's next metadata check finds the topics
            await pub.publish(request.reply("late but here"))
            await pub.publish(Envelope.new_root("t.s.v1", later, "first"))
        await wait_until(lambda: watcher.stats()[req].answered == 1, 30, "reply matched")
        await wait_until(lambda: watcher.stats()[later].events == 1, 30, "later topic read")
        assert watcher.missing_topics == []


async def test_watch_and_unwatch_while_running_keep_positions(kafka, unique):
    a, b = f"{unique}.a", f"{unique}.b"
    create_topic(kafka.bootstrap, a, partitions=3)
    create_topic(kafka.bootstrap, b, partitions=2)
    async with TrafficWatcher(kafka.bootstrap, [a], refresh_s=0.1,
                              follow_dead_letters=False) as watcher:
        await watcher.positioned()
        async with KafkaPublisher(kafka.bootstrap) as pub:
            await pub.publish_many(Envelope.new_root("t.s.v1", a, i) for i in range(100))
            watcher.watch(b)  # reassigns while a's records are in flight
            await watcher.positioned()
            await pub.publish_many(Envelope.new_root("t.s.v1", a, i) for i in range(100))
            await pub.publish_many(Envelope.new_root("t.s.v1", b, i) for i in range(30))
            await wait_until(lambda: watcher.stats()[b].events == 30, 30, "b seen")
            await wait_until(lambda: watcher.stats()[a].events == 200, 30, "all of a seen")
            assert watcher.watched == {a: TopicRole.WATCHED, b: TopicRole.WATCHED}
            watcher.unwatch(b)
            await watcher.positioned()
            assert b not in watcher.stats()
            assert {t for t, _ in watcher.assignment} == {a}
            await pub.publish_many(Envelope.new_root("t.s.v1", a, i) for i in range(10))
            await pub.publish_many(Envelope.new_root("t.s.v1", b, i) for i in range(10))
            await wait_until(lambda: watcher.stats()[a].events == 210, 30, "a still read")
        assert watcher.stats()[a].events == 210  # nothing of a counted twice
        assert b not in watcher.stats()


# ---- the CLI ----------------------------------------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "nexus_tui", "errors", *args]


async def test_cli_errors_json_while_traffic_flows(kafka, unique):
    topic = f"{unique}.svc"
    create_topic(kafka.bootstrap, topic, partitions=2)
    proc = await asyncio.create_subprocess_exec(
        *_cli("-b", kafka.bootstrap, "--topic", topic, "--window", "3", "--json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    async def traffic() -> None:
        async with KafkaPublisher(kafka.bootstrap) as pub:
            while True:
                q = Envelope.new_root("t.caller.v1", topic, "hi", reply_to=topic)
                await pub.publish_many([q, q.reply_error("nope")])
                await asyncio.sleep(0.02)  # pacing of the background traffic, not a wait

    producer = asyncio.create_task(traffic())
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
    assert proc.returncode == 0, stderr.decode()
    rows = json.loads(stdout)
    assert isinstance(rows, list)
    row = next(r for r in rows if r["topic"] == topic)
    for key in ("messages_per_s", "requests_per_s", "replies_per_s", "error_replies_per_s",
                "error_pct", "undecodable_per_s", "unanswered", "latency_p50_ms",
                "latency_p99_ms", "dlq_inflow_per_s", "recent_errors"):
        assert key in row
    assert row["requests"] > 0 and row["replies"] > 0
    assert row["error_pct"] == pytest.approx(100.0)
    assert 2.5 <= row["window_s"] <= 3.5
    assert row["recent_errors"] and row["recent_errors"][0]["error"] == "nope"


@pytest.mark.parametrize("window", ["abc", "0", "-3", "inf", "99999"])
def test_cli_bad_window_is_one_line_error(kafka, window):
    proc = subprocess.run(_cli("-b", kafka.bootstrap, "--window", window),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--window" in lines[0], proc.stderr


def test_cli_unknown_topic_is_one_line_error(kafka, unique):
    proc = subprocess.run(_cli("-b", kafka.bootstrap, "--topic", f"{unique}.nope", "--json"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert json.loads(proc.stderr) == {"error": f"topic {unique}.nope does not exist"}

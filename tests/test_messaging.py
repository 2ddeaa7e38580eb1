"""Publisher, subscriber, retries, dead-letter topic, request/reply — on the real broker."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import defaultdict

import pytest
from prometheus_client import CollectorRegistry

from core import (
    DLQ_HEADERS,
    ClientMetrics,
    Envelope,
    EnvelopeError,
    HandlerContext,
    KafkaPublisher,
    KafkaSubscriber,
    PublishError,
    RemoteError,
    ReplyTimeout,
    Requester,
    RetryPolicy,
    TopicNameError,
    partition_for_key,
)
from tests.kafka_helpers import (
    committed_offsets,
    create_topic,
    end_offsets,
    read_all,
    wait_until,
)

FAST_RETRY = RetryPolicy(attempts=3, base_s=0.01, cap_s=0.05, jitter=0.0)


async def test_publish_returns_the_brokers_ack_on_the_murmur2_partition(kafka, unique):
    create_topic(kafka.bootstrap, unique, partitions=6)
    async with KafkaPublisher(kafka.bootstrap) as pub:
        envs = [Envelope.new_root("t.src.v1", unique, {"i": i}) for i in range(50)]
        acks = [await pub.publish(e) for e in envs]
    offsets: dict[int, list[int]] = defaultdict(list)
    for env, ack in zip(envs, acks, strict=True):
        assert ack.topic == unique
        assert ack.partition == partition_for_key(env.key, 6)
        offsets[ack.partition].append(ack.offset)
    # one at a time into empty partitions: each partition's acks are 0, 1, 2, ... in order
    assert all(got == list(range(len(got))) for got in offsets.values()), offsets
    records = read_all(kafka.bootstrap, unique, 50)
    by_key = {m.key(): m for m in records}
    for env, ack in zip(envs, acks, strict=True):
        msg = by_key[env.key]
        assert (msg.partition(), msg.offset()) == (ack.partition, ack.offset)
        assert msg.value() == env.encode()
        assert msg.headers() is None  # Nexus writes no headers


async def test_batch_path_20k_envelopes_keep_root_id_partition_and_order(kafka, unique):
    create_topic(kafka.bootstrap, unique, partitions=6)
    roots = [Envelope.new_root("t.gen.v1", unique, None) for _ in range(200)]
    envs = [
        Envelope(id=f"{r.root_id}/{seq}", root_id=r.root_id, started_at=r.started_at,
                 created_at=r.created_at, source_topic=r.source_topic,
                 destination_topic=unique, payload={"seq": seq})
        for seq in range(100) for r in roots
    ]
    seen: dict[str, list[tuple[int, int]]] = defaultdict(list)

    async def handler(ctx: HandlerContext) -> None:
        seen[ctx.envelope.root_id].append((ctx.partition, ctx.envelope.payload["seq"]))

    async with KafkaPublisher(kafka.bootstrap, preset="high-throughput") as pub:
        acks = await pub.publish_many(envs)
    assert len(acks) == 20_000
    sub = KafkaSubscriber(kafka.bootstrap, unique)
    sub.handle(unique, handler)
    async with sub:
        await wait_until(lambda: sum(map(len, seen.values())) >= 20_000, 90, "20k handled")
    assert len(seen) == 200
    for root, got in seen.items():
        partitions = {p for p, _ in got}
        assert partitions == {partition_for_key(root.encode(), 6)}
        assert [s for _, s in got] == list(range(100)), f"order broken for {root}"


async def test_retry_then_dead_letter_with_headers_and_undecodable_records(kafka, unique):
    create_topic(kafka.bootstrap, unique, partitions=1)
    create_topic(kafka.bootstrap, f"{unique}.dlq", partitions=1)
    attempts: dict[str, int] = defaultdict(int)
    handled: list[str] = []

    async def handler(ctx: HandlerContext) -> None:
        attempts[ctx.envelope.id] += 1
        if ctx.envelope.payload.get("fail"):
            raise ValueError("boom: cannot process")
        handled.append(ctx.envelope.id)

    errors: list[BaseException] = []
    async with KafkaPublisher(kafka.bootstrap) as pub:
        bad = Envelope.new_root("t.src.v1", unique, {"fail": True})
        await pub.publish(bad)
        await pub.publish_raw(unique, b"this is not json", b"k1")
        good = Envelope.new_root("t.src.v1", unique, {"fail": False})
        await pub.publish(good)
        sub = KafkaSubscriber(kafka.bootstrap, unique, publisher=pub, retry=FAST_RETRY,
                              on_error=lambda exc, rec: errors.append(exc))
        sub.handle(unique, handler)
        async with sub:
            await wait_until(lambda: handled == [good.id], 30, "the good record handled")
            await wait_until(lambda: sub.metrics.snapshot().total("dead_lettered") == 2, 30,
                             "two records dead-lettered")
        snap = sub.metrics.snapshot()
    assert attempts[bad.id] == 3 and attempts[good.id] == 1
    assert snap.total("retries") == 2 and snap.total("handled_failed") == 3
    assert snap.total("undecodable") == 1
    assert len(errors) == 4  # three handler failures and one undecodable record

    dead = read_all(kafka.bootstrap, f"{unique}.dlq", 2)
    assert len(dead) == 2
    first, second = (dict((k, v.decode()) for k, v in m.headers()) for m in dead)
    assert dead[0].value() == bad.encode() and dead[0].key() == bad.key
    assert first["nexus-dlq-error"] == "ValueError: boom: cannot process"
    assert first["nexus-dlq-attempts"] == "3"
    assert first["nexus-dlq-original-topic"] == unique
    assert (first["nexus-dlq-original-partition"], first["nexus-dlq-original-offset"]) == ("0", "0")
    assert set(DLQ_HEADERS) <= set(first)
    assert dead[1].value() == b"this is not json"
    assert second["nexus-dlq-error"].startswith("undecodable: ")
    assert (second["nexus-dlq-attempts"], second["nexus-dlq-original-offset"]) == ("0", "1")
    # everything was committed: the group's committed offset (read back from the broker) is
    # the log end, so a new member of the group has nothing left to do
    assert end_offsets(kafka.bootstrap, unique) == {0: 3}
    assert committed_offsets(kafka.bootstrap, unique) == {(unique, 0): 3}


async def _echo_service(kafka, topic: str) -> KafkaSubscriber:
    async def handler(ctx: HandlerContext) -> None:
        payload = ctx.envelope.payload_json()
        if payload.get("delay"):
            await asyncio.sleep(payload["delay"])  # the service is slow on purpose
        if payload.get("error"):
            await ctx.reply_error(payload["error"])
        else:
            await ctx.reply({"echo": payload})

    sub = KafkaSubscriber(kafka.bootstrap, f"{topic}-svc", retry=FAST_RETRY)
    sub.handle(topic, handler)
    return await sub.start()


async def test_request_reply_error_reply_and_timeout(kafka, unique):
    service, replies = f"{unique}.svc.v1", f"{unique}.replies.v1"
    create_topic(kafka.bootstrap, service, partitions=3)
    create_topic(kafka.bootstrap, replies, partitions=3)
    sub = await _echo_service(kafka, service)
    try:
        async with Requester(kafka.bootstrap, reply_topic=replies) as req:
            result = await req.request(service, {"hello": "world"}, timeout=20)
            assert result.reply.payload == {"echo": {"hello": "world"}}
            assert result.reply.request_id == result.request.id
            assert result.reply.root_id == result.request.root_id
            assert result.latency_ms > 0

            with pytest.raises(RemoteError) as err:
                await req.request(service, {"error": "name not found"}, timeout=20)
            assert "name not found" in str(err.value)
            assert err.value.reply.payload["id"] == err.value.reply.request_id

            with pytest.raises(ReplyTimeout):
                await req.request(service, {"delay": 1.0}, timeout=0.2)
            assert len(req.inbox) == 0
            await wait_until(lambda: req.inbox.late_replies == 1, 20, "the late reply dropped")
    finally:
        await sub.stop()


async def test_a_thousand_requests_some_timing_out_leave_no_pending_entry(kafka, unique):
    service, replies = f"{unique}.svc.v1", f"{unique}.replies.v1"
    create_topic(kafka.bootstrap, service, partitions=3)
    create_topic(kafka.bootstrap, replies, partitions=3)
    sub = await _echo_service(kafka, service)
    try:
        async with Requester(kafka.bootstrap, reply_topic=replies) as req:
            # every 10th request names a topic nobody serves: it must time out
            nobody = f"{unique}.nobody.v1"
            create_topic(kafka.bootstrap, nobody, partitions=1)
            outcomes = await asyncio.gather(
                *(req.request(nobody if i % 10 == 0 else service, {"i": i}, timeout=5)
                  for i in range(1000)),
                return_exceptions=True,
            )
            timeouts = [o for o in outcomes if isinstance(o, ReplyTimeout)]
            ok = [o for o in outcomes if not isinstance(o, BaseException)]
            assert len(timeouts) == 100 and len(ok) == 900
            assert all(o.reply.payload["echo"]["i"] % 10 for o in ok)
            assert len(req.inbox) == 0
    finally:
        await sub.stop()


async def test_handler_dispatches_a_child_request_and_gets_its_reply(kafka, unique):
    front, names = f"{unique}.front.v1", f"{unique}.names.cmd.v1"
    replies = f"{unique}.replies.v1"
    for topic in (front, names, replies):
        create_topic(kafka.bootstrap, topic, partitions=2)
    name_service = await _echo_service(kafka, names)

    async def greet(ctx: HandlerContext) -> None:
        child_reply = await ctx.dispatch(names, {"user": "u-42"}, expect_reply=True, timeout=10)
        await ctx.reply({"message": f"Hello, {child_reply.payload['echo']['user']}!"})

    front_service = KafkaSubscriber(kafka.bootstrap, f"{unique}-front")
    front_service.handle(front, greet)
    await front_service.start()
    try:
        async with Requester(kafka.bootstrap, reply_topic=replies) as req:
            result = await req.request(front, {}, timeout=20)
        assert result.reply.payload == {"message": "Hello, u-42!"}
        assert len(front_service.inbox) == 0
        # the child request went out Go-style: base64 payload, reply_to = the handler's topic
        child = Envelope.decode(read_all(kafka.bootstrap, names, 1)[0].value())
        assert child.reply_to_topics == (front,)
        assert child.root_id == result.request.root_id
        assert isinstance(child.payload, str) and child.payload_json() == {"user": "u-42"}
    finally:
        await front_service.stop()
        await name_service.stop()


async def test_topics_can_be_added_while_running_and_metrics_reach_prometheus(kafka, unique):
    first, second = f"{unique}.a.v1", f"{unique}.b.v1"
    create_topic(kafka.bootstrap, first)
    create_topic(kafka.bootstrap, second)
    registry = CollectorRegistry()
    metrics = ClientMetrics(registry=registry)
    got: list[str] = []

    async def handler(ctx: HandlerContext) -> None:
        got.append(ctx.topic)

    async with KafkaPublisher(kafka.bootstrap, metrics=metrics) as pub:
        sub = KafkaSubscriber(kafka.bootstrap, unique, publisher=pub)
        sub.handle(first, handler)
        async with sub:
            await pub.publish(Envelope.new_root("t.v1", first, 1))
            await wait_until(lambda: got == [first], 30, "first topic handled")
            sub.handle(second, handler)
            await pub.publish(Envelope.new_root("t.v1", second, 2))
            await wait_until(lambda: got == [first, second], 30, "added topic handled")
    assert registry.get_sample_value("nexus_published_total", {"topic": first}) == 1
    assert registry.get_sample_value("nexus_handled_ok_total", {"topic": second}) == 1
    assert registry.get_sample_value("nexus_consumed_total", {"topic": first}) == 1
    assert registry.get_sample_value("nexus_handler_seconds_count", {"topic": first}) == 1
    assert metrics.snapshot().total("published") == 2


async def test_bad_input_gets_clear_errors_and_nothing_is_half_sent(kafka, unique):
    create_topic(kafka.bootstrap, unique, config={"max.message.bytes": "2000"})
    async with KafkaPublisher(kafka.bootstrap) as pub:
        with pytest.raises(EnvelopeError, match="JSON"):
            await pub.publish(Envelope.new_root("t.v1", unique, {"x": object()}))
        with pytest.raises(TopicNameError):
            await pub.publish(Envelope.new_root("t.v1", "bad topic!", {}))
        with pytest.raises(PublishError, match="too large"):
            await pub.publish(Envelope.new_root("t.v1", unique, secrets.token_hex(3000)))
        ack = await pub.publish(Envelope.new_root("t.v1", unique, "small"))
    assert ack.offset == 0  # nothing before it reached the topic
    assert end_offsets(kafka.bootstrap, unique) == {0: 1}
    assert json.loads(read_all(kafka.bootstrap, unique, 1)[0].value())["payload"] == "small"

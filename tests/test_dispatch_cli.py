"""`nexus-tui dispatch`: a test request to a real service, its ack and its reply."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from core import HandlerContext, KafkaSubscriber, partition_for_key
from tests.kafka_helpers import create_topic, end_offsets


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_tui", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def _service(kafka, topic: str) -> KafkaSubscriber:
    async def handler(ctx: HandlerContext) -> None:
        body = ctx.envelope.payload_json()
        if "fail" in body:
            await ctx.reply_error(body["fail"])
        elif "ignore" not in body:
            await ctx.reply({"hello": body.get("name")})

    sub = KafkaSubscriber(kafka.bootstrap, f"{topic}-svc")
    sub.handle(topic, handler)
    return await sub.start()


async def test_dispatch_gets_the_ack_and_the_reply(kafka, unique):
    topic, replies = f"{unique}.greet.v1", f"{unique}.replies.v1"
    create_topic(kafka.bootstrap, topic, partitions=3)
    service = await _service(kafka, topic)
    base = ["-b", kafka.bootstrap, "--reply-topic", replies, "--json"]
    try:
        code, out, err = await _cli("dispatch", topic, "--payload", '{"name": "Ada"}',
                                    "--root-id", "root-1", *base)
        assert code == 0, err
        data = json.loads(out)
        assert data["topic"] == topic and data["root_id"] == "root-1" and data["id"] == "root-1"
        assert data["partition"] == partition_for_key(b"root-1", 3)
        assert data["offset"] >= 0 and 0 < data["ack_ms"] <= data["reply_ms"]
        assert data["reply"]["payload"] == {"hello": "Ada"}
        assert data["reply"]["request_id"] == "root-1"

        code, out, err = await _cli("dispatch", topic, "--payload", '{"fail": "no such user"}',
                                    *base)
        assert code == 3
        assert json.loads(out)["reply_kind"] == "error_reply"
        assert json.loads(err) == {"error": "no such user"}

        code, out, err = await _cli("dispatch", topic, "--payload", '{"ignore": 1}',
                                    "--reply-timeout", "1", *base)
        assert code == 1 and json.loads(out)["reply"] is None
        assert "no reply" in json.loads(err)["error"]
    finally:
        await service.stop()


async def test_dispatch_bad_input_sends_nothing(kafka, unique):
    topic = f"{unique}.greet.v1"
    create_topic(kafka.bootstrap, topic, partitions=1)
    before = end_offsets(kafka.bootstrap, topic)
    cases = [
        (["dispatch", topic, "--payload", "{not json"], "not valid JSON"),
        (["dispatch", f"{unique}.missing.v1", "--payload", "{}"], "does not exist"),
        (["dispatch", "bad topic!", "--payload", "{}"], "topic"),
        (["dispatch", topic, "--payload", "{}", "--read-only"], "read-only"),
    ]
    for args, expected in cases:
        code, out, err = await _cli(*args, "-b", kafka.bootstrap, "--reply-timeout", "1")
        assert code == 1, (args, err)
        assert err.startswith("error: ") and expected in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert end_offsets(kafka.bootstrap, topic) == before

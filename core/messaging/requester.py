"""Request/reply from outside a service: what a test dispatch uses.

The requester tails its reply topic from the end on every partition (no consumer group, no
commits), sends a request with `reply_to_topics=[reply topic]` and matches the reply by
`request_id`. Replies that arrive after their wait ended are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from core import compat
from core.config.settings import ConnectionSettings
from core.errors import NexusError
from core.messaging.consumer_stop import stop_consumer
from core.messaging.inbox import RemoteError, ReplyInbox, ReplyTimeout
from core.messaging.publisher import Delivery, KafkaPublisher
from core.wire.envelope import Envelope, EnvelopeError

log = logging.getLogger("core.messaging.requester")
DEFAULT_REPLY_TOPIC = "nexus-tui.replies.v1"


@dataclass(frozen=True)
class RequestResult:
    request: Envelope
    delivery: Delivery
    reply: Envelope
    latency_ms: float


class Requester:
    """Sends requests and awaits their replies on `reply_topic` (which must exist)."""

    def __init__(
        self,
        brokers: str | ConnectionSettings,
        reply_topic: str = DEFAULT_REPLY_TOPIC,
        publisher: KafkaPublisher | None = None,
        source_topic: str | None = None,
    ) -> None:
        self.settings = ConnectionSettings.of(brokers)
        self.reply_topic = reply_topic
        self.source_topic = source_topic or reply_topic
        self._own_publisher = publisher is None
        self.publisher = publisher or KafkaPublisher(self.settings, preset="low-latency")
        self.inbox = ReplyInbox()
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Requester:
        if self._consumer is not None:
            return self
        self.settings.check_writable("dispatch")
        consumer = AIOKafkaConsumer(
            enable_auto_commit=False, fetch_max_wait_ms=100, **self.settings.aiokafka_kwargs()
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            tps = [TopicPartition(self.reply_topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:  # resolve positions now, so no reply can slip before them
                await consumer.position(tp)
        except BaseException:
            await stop_consumer(consumer)
            raise
        await self.publisher.start()
        self._consumer = consumer
        self._reader = asyncio.create_task(self._read(), name=f"replies:{self.reply_topic}")
        return self

    async def _partitions(self, consumer: AIOKafkaConsumer) -> set[int]:
        deadline = time.monotonic() + self.settings.request_timeout_s
        while True:
            partitions = consumer.partitions_for_topic(self.reply_topic)
            if partitions:
                return set(partitions)
            if time.monotonic() > deadline:
                raise NexusError(f"reply topic {self.reply_topic} does not exist")
            await compat.refresh_metadata(consumer, self.reply_topic)
            await asyncio.sleep(0.1)  # metadata refresh pacing within the deadline above

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._consumer:
            await stop_consumer(self._consumer)
            self._consumer = None
        if self._own_publisher:
            await self.publisher.close()

    async def __aenter__(self) -> Requester:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read(self) -> None:
        assert self._consumer is not None
        async for record in self._consumer:
            try:
                envelope = Envelope.decode(record.value or b"")
            except EnvelopeError:
                continue  # not ours to judge: a reply topic may carry anything
            self.inbox.resolve(envelope)

    async def request(
        self, topic: str, payload: Any, timeout: float = 30.0, root_id: str | None = None
    ) -> RequestResult:
        """Send a request to `topic` and return its reply (RemoteError for an error reply,
        ReplyTimeout when none comes in time)."""
        request = self.build(topic, payload, root_id)
        delivery, reply, latency = await self.send_and_wait(request, timeout)
        return RequestResult(request, delivery, reply, latency)

    def build(self, topic: str, payload: Any, root_id: str | None = None) -> Envelope:
        request = Envelope.new_root(self.source_topic, topic, payload, reply_to=self.reply_topic)
        if root_id:  # a given conversation id: keep id == root_id, as Go roots have
            request = dataclasses.replace(request, id=root_id, root_id=root_id)
        return request

    async def send_and_wait(
        self, request: Envelope, timeout: float,
        on_sent: Callable[[Envelope, Delivery], None] | None = None,
    ) -> tuple[Delivery, Envelope, float]:
        """Publish `request` (acknowledged), then await its reply; `on_sent` runs at the ack."""
        if self._consumer is None:
            raise NexusError("the requester is not started (use `async with`)")
        fut = self.inbox.expect(request.id)
        started = time.perf_counter()
        try:
            delivery = await self.publisher.publish(request)
        except BaseException:
            self.inbox.discard(request.id)
            raise
        if on_sent is not None:
            on_sent(request, delivery)
        try:
            reply = await self.inbox.wait(request.id, fut, timeout)
        except ReplyTimeout as exc:
            exc.delivery = delivery
            raise
        except RemoteError as exc:
            exc.delivery = delivery
            exc.latency_ms = (time.perf_counter() - started) * 1000
            raise
        return delivery, reply, (time.perf_counter() - started) * 1000

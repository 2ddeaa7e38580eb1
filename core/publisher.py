"""KafkaPublisher: produce Nexus envelopes, acknowledged by the broker, on confluent-kafka.

librdkafka does the batching, compression, idempotence and Java-compatible murmur2
partitioning (`partitioner=murmur2_random`: key = root_id). A poller thread serves delivery
reports and hands them to the event loop in bursts, so awaiting one publish costs one loop
wake-up and a batch of 100,000 costs a few hundred.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException, Producer

from core.envelope import Envelope
from core.errors import NexusError
from core.metrics import ClientMetrics
from core.settings import ConnectionSettings
from core.topics import validate_kafka_topic

Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]
Acks = Literal["all", "1", "0", 1, 0, -1]

#: The seed's two tuning presets (see docs in README "Publisher presets").
PRESETS: dict[str, dict[str, Any]] = {
    "high-throughput": {"compression": "lz4", "linger_ms": 20, "batch_max_bytes": 1_048_576},
    "low-latency": {"compression": "none", "linger_ms": 0, "batch_max_bytes": 65_536},
}


class PublishError(NexusError):
    """The broker did not acknowledge an envelope (or it could not be produced at all)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """The broker's acknowledgement of one record."""

    topic: str
    partition: int
    offset: int


def _describe(err: KafkaError, topic: str) -> str:
    code = err.code()
    if code == KafkaError.MSG_SIZE_TOO_LARGE:
        return f"record too large for topic {topic} (broker's max.message.bytes): {err.str()}"
    if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
        return f"topic {topic} does not exist"
    if code == KafkaError._MSG_TIMED_OUT:
        return f"not acknowledged in time by the broker for {topic}: {err.str()}"
    return f"publish to {topic} failed: {err.str()}"


class KafkaPublisher:
    """Publishes envelopes to `envelope.destination_topic`, keyed by `root_id`."""

    def __init__(
        self,
        brokers: str | ConnectionSettings,
        *,
        preset: Literal["high-throughput", "low-latency"] | None = None,
        compression: Compression | None = None,
        batch_max_bytes: int | None = None,
        linger_ms: float | None = None,
        acks: Acks = "all",
        idempotence: bool = True,
        delivery_timeout_ms: int = 30_000,
        client_properties: Mapping[str, Any] | None = None,
        metrics: ClientMetrics | None = None,
    ) -> None:
        self.settings = ConnectionSettings.of(brokers)
        tuned = dict(PRESETS.get(preset or "", {}))
        if preset and preset not in PRESETS:
            raise NexusError(f"unknown preset {preset!r}: use one of {', '.join(PRESETS)}")
        if compression is not None:
            tuned["compression"] = compression
        if batch_max_bytes is not None:
            tuned["batch_max_bytes"] = batch_max_bytes
        if linger_ms is not None:
            tuned["linger_ms"] = linger_ms
        conf: dict[str, Any] = {
            "acks": str(acks),
            "enable.idempotence": idempotence,
            "compression.type": tuned.get("compression", "lz4"),
            "linger.ms": tuned.get("linger_ms", 5),
            "batch.size": tuned.get("batch_max_bytes", 1_048_576),
            "partitioner": "murmur2_random",
            "message.timeout.ms": delivery_timeout_ms,
            "log_level": 3,
        }
        if idempotence and str(acks) not in ("all", "-1"):
            raise NexusError("idempotence needs acks=all")
        self.config = self.settings.confluent_config(**conf)
        self.config.update(client_properties or {})
        self.metrics = metrics or ClientMetrics()
        self._producer: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future[Delivery], KafkaError | None, Any]] = []

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> KafkaPublisher:
        if self._producer is not None:
            return self
        self._loop = asyncio.get_running_loop()
        try:
            self._producer = Producer(self.config)
        except KafkaException as exc:
            raise NexusError(f"bad publisher settings: {exc.args[0].str()}") from None
        self._stopping.clear()
        self._poller = threading.Thread(target=self._poll_loop, name="nexus-publisher", daemon=True)
        self._poller.start()
        return self

    async def close(self, timeout: float = 30.0) -> None:
        """Flush what is queued (bounded), then stop the poller."""
        if self._producer is None:
            return
        await self.flush(timeout)
        self._stopping.set()
        if self._poller:
            await asyncio.to_thread(self._poller.join, 5)
        self._producer = None

    async def __aenter__(self) -> KafkaPublisher:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def flush(self, timeout: float = 30.0) -> int:
        """Wait until queued records are acknowledged; returns how many are still queued."""
        if self._producer is None:
            return 0
        return await asyncio.to_thread(self._producer.flush, timeout)

    # ---- publishing ---------------------------------------------------------------------------

    async def publish(self, envelope: Envelope) -> Delivery:
        """Produce one envelope; return only after the broker acknowledged it."""
        delivery = await self.publish_nowait(envelope)
        return delivery

    def publish_nowait(self, envelope: Envelope) -> asyncio.Future[Delivery]:
        """Queue one envelope and return a future of its acknowledgement (the batch path)."""
        self.settings.check_writable("publish")
        value = envelope.encode()
        return self._produce(envelope.destination_topic, envelope.key, value)

    async def publish_many(self, envelopes: Iterable[Envelope]) -> list[Delivery]:
        """Produce many envelopes without waiting message by message; raise on the first error
        after all of them were acknowledged or failed."""
        futures = [self.publish_nowait(e) for e in envelopes]
        self.metrics.batch(len(futures))
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results  # type: ignore[return-value]

    async def publish_raw(
        self, topic: str, value: bytes, key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Delivery:
        """Produce a raw record (dead-letter copies, replays); acknowledged like publish()."""
        self.settings.check_writable("publish")
        return await self._produce(topic, key, value, headers)

    def _produce(
        self, topic: str, key: bytes | None, value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Delivery]:
        if self._producer is None or self._loop is None:
            raise PublishError("the publisher is not started (use `async with` or start())")
        validate_kafka_topic(topic)
        fut: asyncio.Future[Delivery] = self._loop.create_future()

        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            with self._lock:
                self._done.append((fut, err, msg))

        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                return fut
            except BufferError:  # local queue full: let deliveries drain it
                self._producer.poll(0.05)
            except KafkaException as exc:
                self.metrics.inc("publish_errors", topic)
                raise PublishError(_describe(exc.args[0], topic)) from None

    def _poll_loop(self) -> None:
        producer = self._producer
        assert producer is not None and self._loop is not None
        while not self._stopping.is_set():
            producer.poll(0.05)
            with self._lock:
                done, self._done = self._done, []
            if done:
                try:
                    self._loop.call_soon_threadsafe(self._resolve, done)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    return

    def _resolve(self, done: list[tuple[asyncio.Future[Delivery], KafkaError | None, Any]]) -> None:
        for fut, err, msg in done:
            if fut.done():
                continue
            if err is not None:
                self.metrics.inc("publish_errors", msg.topic())
                fut.set_exception(PublishError(_describe(err, msg.topic())))
            else:
                self.metrics.inc("published", msg.topic())
                fut.set_result(Delivery(msg.topic(), msg.partition(), msg.offset()))

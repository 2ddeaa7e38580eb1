"""KafkaPublisher: produce Nexus envelopes, acknowledged by the broker, on confluent-kafka.

librdkafka does the batching, compression, idempotence and Java-compatible murmur2
partitioning (`partitioner=murmur2_random`: key = root_id). Delivery reports are served where
they cost least (bench/publisher.py measures it; the figures are in BENCHMARKS.md):

- while the event loop produces a burst (INLINE_POLL_EVERY records within BURST_WINDOW_S), it
  serves them itself every INLINE_POLL_EVERY records (`poll(0)` inline) and the poller thread
  keeps away: a second thread taking the GIL for each callback, against a loop busy
  encoding, costs more CPU than it saves. A publish_many loop always does so, however slow
  its records come, and the poller keeps away until it ends: the loop does not yield inside
  it, so no report could be used earlier anyway;
- otherwise the poller thread waits for them and wakes the loop once per burst of reports,
  so a lone publish() is resolved as soon as its ack arrives.

Reports of single records land in a deque (thread-safe appends) and are resolved on the loop
only. A batch (`publish_many`) is one future for all its records, not one per record: each
record's delivery callback (its `_Pending` itself, which is its place in the results and
becomes its Delivery) settles it in place on whichever thread serves it, and only
the report that completes the batch goes through the deque to the loop. librdkafka gives each
offset only in a per-record report, so one callback per record stays; it is kept small.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, Literal

import msgspec
from confluent_kafka import KafkaError, KafkaException, Producer

from core.config.settings import ConnectionSettings
from core.errors import NexusError
from core.messaging.metrics import ClientMetrics
from core.wire.envelope import Envelope
from core.wire.topic_names import validate_kafka_topic

Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]
Acks = Literal["all", "1", "0", 1, 0, -1]

#: The seed's two tuning presets (see docs in README "Publisher presets").
PRESETS: dict[str, dict[str, Any]] = {
    "high-throughput": {"compression": "lz4", "linger_ms": 20, "batch_max_bytes": 1_048_576},
    "low-latency": {"compression": "none", "linger_ms": 0, "batch_max_bytes": 65_536},
}


class PublishError(NexusError):
    """The broker did not acknowledge an envelope (or it could not be produced at all)."""


class Delivery(msgspec.Struct, frozen=True, gc=False):
    """The broker's acknowledgement of one record (immutable, hashable, compared by value).

    Not tracked by Python's cyclic garbage collector (it holds only a str and two ints, so it
    can be part of no cycle): the hundreds of thousands a large `publish_many` returns are
    long-lived objects that would otherwise set off full collections, each one walking all of
    them again, while the batch is still being produced."""

    topic: str
    partition: int
    offset: int


class _Pending(msgspec.Struct, gc=False):
    """A publish_many record in flight: its place in the batch's results, and its delivery
    callback (the object is callable), in one object: no bound method per record, which
    would live as long as the record is in flight.

    It has Delivery's fields, so the report that acknowledges it fills them and gives it the
    class Delivery (Python allows that between identical layouts): the result is made in
    place, with no index to carry and no second object. Until then it holds its topic (the
    caller's string, shared by the batch's Deliveries) and the batch (`partition`); a failed
    record keeps this class and holds the text of its error (`offset`), which publish_many
    raises as a PublishError.

    Like Delivery it is not tracked by the collector, so it must never close a reference
    cycle: its reference to the batch (whose results hold it) is replaced by the partition,
    or by -1 when the record failed, in the report, and it holds no exception (a raised one
    holds its traceback, whose frames hold the batch).
    """

    topic: str
    partition: Any
    offset: Any

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        """librdkafka's delivery callback (any thread); the report that completes the batch
        queues it for the loop."""
        batch: _Batch = self.partition
        if err is None:
            self.partition = msg.partition()
            self.offset = msg.offset()
            self.__class__ = Delivery  # type: ignore[assignment]
        else:
            self.partition = -1
            self.offset = _describe(err, self.topic)
            batch.failed.append(self.topic)
        if next(batch.settled) == batch.last:
            batch.finished((batch, None, None))


assert Delivery.__struct_fields__ == _Pending.__struct_fields__


#: produce()'s partition argument for "let the configured partitioner choose"
#: (librdkafka's RD_KAFKA_PARTITION_UA). The hot paths pass produce() its arguments by
#: position (topic, value, key, partition, on_delivery), which confluent-kafka parses faster
#: than keywords.
ANY_PARTITION = -1
#: Records produced between two inline polls of a burst.
INLINE_POLL_EVERY = 256
#: INLINE_POLL_EVERY records within this time make a burst; slower publishing (a
#: request/reply service) never polls inline, so its acks are never delayed.
BURST_WINDOW_S = 0.05
#: How long the poller thread stays away after the loop served reports itself.
INLINE_QUIET_S = 0.01


class _Batch:
    """The acknowledgements of one publish_many: one future resolved when all are in.

    Completion is counted without a lock: every report and the sealing (all records produced)
    each take one number from `settled` (itertools.count: atomic under the GIL), and whoever
    takes number `last` (= the record count, set before the sealing takes its number) was the
    final one of the n + 1, so exactly one of them completes the batch.
    """

    __slots__ = ("future", "results", "settled", "last", "finished", "topic", "failed")

    def __init__(self, loop: asyncio.AbstractEventLoop, finished: Callable[[Any], None]) -> None:
        self.future: asyncio.Future[None] = loop.create_future()
        self.results: list[Delivery | _Pending] = []
        self.settled = itertools.count()
        self.last = -1  # no number matches until sealed
        self.finished = finished  # queues the batch for the loop (thread-safe)
        self.topic: str | None = None  # the one topic of the batch; None: several
        self.failed: list[str] = []  # the topic of each failed record (thread-safe appends)


def _report(append: Callable[[Any], None], target: Any, err: KafkaError | None, msg: Any) -> None:
    """librdkafka's delivery callback (any thread): queue the report for the loop."""
    append((target, err, msg))


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
        brokers: str | list[str] | tuple[str, ...] | ConnectionSettings,
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
        # (target, err, msg) appended by delivery callbacks on any thread, drained on the loop
        self._done: deque[tuple[Any, KafkaError | None, Any]] = deque()
        self._drain_scheduled = False
        self._inline_at = 0.0  # monotonic time the loop last served reports itself
        self._batch_loops = 0  # publish_many loops running (they serve reports themselves)
        self._wake_poller = threading.Event()  # ends the poller's quiet time early
        self._produced = 0
        self._burst_mark = 0.0  # when _produced last crossed a multiple of INLINE_POLL_EVERY
        self._valid_topics: set[str] = set()

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
        self._wake_poller.set()
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
        left = await asyncio.to_thread(self._producer.flush, timeout)
        self._drain()  # flush served the last reports on its own thread
        return left

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
        after all of them were acknowledged or failed.

        What a batch shares is done once: the read-only check, the topic check (per distinct
        topic), the lookups of the producer and the report queue; per record there is only its
        encoding, one produce() and the object that becomes its Delivery (its report's callback).
        """
        self.settings.check_writable("publish")
        producer = self._producer
        if producer is None or self._loop is None:
            raise PublishError("the publisher is not started (use `async with` or start())")
        batch = _Batch(self._loop, self._done.append)
        results = batch.results
        add_result = results.append
        valid_topics = self._valid_topics
        produce = producer.produce
        checked_topic: str | None = None  # the last destination_topic object seen
        topic = batch_topic = ""
        index = 0
        self._batch_loops += 1  # the poller keeps away: this loop serves the reports
        try:
            for envelope in envelopes:
                if envelope.destination_topic is not checked_topic:
                    checked_topic = envelope.destination_topic
                    # a plain str (not a StrEnum's member, say): it becomes Delivery.topic
                    topic = str.__str__(checked_topic)
                    if topic not in valid_topics:
                        validate_kafka_topic(topic)
                        valid_topics.add(topic)
                    if index == 0:
                        batch_topic = topic
                    elif topic != batch_topic:
                        batch_topic = None  # several topics: the metrics count them one by one
                value = envelope.encode()
                try:
                    key = envelope.root_id.encode()
                except UnicodeEncodeError:  # a lone surrogate: the key property says how
                    key = envelope.key
                pending = _Pending(topic, batch, None)
                try:
                    produce(topic, value, key, ANY_PARTITION, pending)
                except BufferError:  # librdkafka's queue is full: the slow path
                    self._produce_retrying(topic, key, value, None, pending)
                except KafkaException as exc:
                    raise self._produce_error(topic, exc) from None
                # counted once produced (its report cannot complete the batch before sealing)
                add_result(pending)
                index += 1
                if not index % INLINE_POLL_EVERY:
                    self._serve_inline()
        finally:  # also when an envelope or produce() raised: what was produced is counted
            self._batch_loops -= 1
            self._produced += index % INLINE_POLL_EVERY
            self.metrics.batch(index)
            batch.topic = batch_topic
            batch.last = index  # before the sealing takes its number (see _Batch)
            complete = next(batch.settled) == index
            if complete:  # every report came in already
                self._finish(batch)
        if not complete:
            self._inline_at = 0.0  # nothing more to produce: the poller takes over at once
            self._wake_poller.set()
            await batch.future
        if batch.failed:
            for result in results:
                if type(result) is _Pending:
                    raise PublishError(result.offset)
        return results  # type: ignore[return-value]

    def _finish(self, batch: _Batch) -> None:
        """Count a completed batch in the metrics and wake its waiter (loop thread only)."""
        results = batch.results
        if batch.topic is not None and not batch.failed:
            if results:
                self.metrics.inc("published", batch.topic, len(results))
        else:
            published: dict[str, int] = {}
            for result in results:
                if type(result) is Delivery:
                    published[result.topic] = published.get(result.topic, 0) + 1
            for topic in batch.failed:
                self.metrics.inc("publish_errors", topic)
            for topic, n in published.items():
                self.metrics.inc("published", topic, n)
        if not batch.future.done():  # not cancelled by its waiter
            batch.future.set_result(None)

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
        fut: asyncio.Future[Delivery] = self._loop.create_future()
        self._send(topic, key, value, headers, fut)
        return fut

    def _send(
        self, topic: str, key: bytes | None, value: bytes,
        headers: list[tuple[str, bytes]] | None, target: Any,
    ) -> None:
        """Queue one record in librdkafka; its report goes to `target` (on the loop thread)."""
        producer = self._producer
        if producer is None:
            raise PublishError("the publisher is not started (use `async with` or start())")
        if topic not in self._valid_topics:
            validate_kafka_topic(topic)
            self._valid_topics.add(topic)
        # a partial, not a closure: fewer GC-tracked objects alive per record in flight
        on_delivery = partial(_report, self._done.append, target)
        try:
            if headers is None:
                producer.produce(topic, value, key, ANY_PARTITION, on_delivery)
            else:
                producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
        except BufferError:
            self._produce_retrying(topic, key, value, headers, on_delivery)
        except KafkaException as exc:
            raise self._produce_error(topic, exc) from None
        self._count_produced()

    def _produce_retrying(
        self, topic: str, key: bytes | None, value: bytes,
        headers: list[tuple[str, bytes]] | None, on_delivery: Callable[..., None],
    ) -> None:
        """produce() that serves reports while librdkafka's queue is full; raises PublishError."""
        producer = self._producer
        assert producer is not None
        while True:
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: serve reports here to drain it
                self._inline_at = time.monotonic()
                producer.poll(0.05)
                self._drain()
            except KafkaException as exc:
                raise self._produce_error(topic, exc) from None

    def _produce_error(self, topic: str, exc: KafkaException) -> PublishError:
        self.metrics.inc("publish_errors", topic)
        return PublishError(_describe(exc.args[0], topic))

    def _count_produced(self) -> None:
        """Count a produced record; in a burst, serve delivery reports here every so often."""
        self._produced += 1
        if self._produced % INLINE_POLL_EVERY == 0:
            self._burst_check(0)

    def _serve_inline(self) -> None:
        """INLINE_POLL_EVERY more records of a publish_many loop were produced: serve the
        delivery reports that came in, here."""
        self._produced += INLINE_POLL_EVERY
        self._inline_at = time.monotonic()
        assert self._producer is not None
        self._producer.poll(0)
        self._drain()

    def _burst_check(self, counted: int = INLINE_POLL_EVERY) -> None:
        """INLINE_POLL_EVERY more records were produced (`counted` of them not yet in
        `_produced`): if that took less than BURST_WINDOW_S, serve delivery reports here."""
        self._produced += counted
        now = time.monotonic()
        if now - self._burst_mark < BURST_WINDOW_S:  # a burst: serve reports right here
            self._inline_at = now
            assert self._producer is not None
            self._producer.poll(0)
            self._drain()
        self._burst_mark = now

    def _poll_loop(self) -> None:
        producer = self._producer
        loop = self._loop
        assert producer is not None and loop is not None
        while not self._stopping.is_set():
            if self._batch_loops or time.monotonic() - self._inline_at < INLINE_QUIET_S:
                # the loop serves reports itself during a burst: taking the GIL for each
                # callback from here would only slow it down
                self._wake_poller.wait(INLINE_QUIET_S / 2)
                self._wake_poller.clear()
                continue
            producer.poll(0.05)
            if self._done and not self._drain_scheduled:
                self._drain_scheduled = True
                try:
                    loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    return

    def _drain(self) -> None:
        """Resolve every delivery report received so far (loop thread only)."""
        self._drain_scheduled = False
        done = self._done
        published: dict[str, int] = {}
        popleft = done.popleft
        while done:
            target, err, msg = popleft()
            if type(target) is _Batch:  # a publish_many whose last report came in
                self._finish(target)
                continue
            topic = msg.topic()
            result: Delivery | PublishError
            if err is None:
                published[topic] = published.get(topic, 0) + 1
                result = Delivery(topic, msg.partition(), msg.offset())
            else:
                self.metrics.inc("publish_errors", topic)
                result = PublishError(_describe(err, topic))
            if target.done():  # cancelled by its waiter
                continue
            elif err is None:
                target.set_result(result)
            else:
                target.set_exception(result)
        for topic, n in published.items():
            self.metrics.inc("published", topic, n)

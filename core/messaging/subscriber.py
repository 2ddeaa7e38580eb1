"""KafkaSubscriber: consume Nexus envelopes in a consumer group, at least once, on aiokafka.

- Offsets are committed only after the handler succeeded (or the record was dead-lettered):
  a crash re-delivers what was in flight, it never loses it (the Go adapter commits first).
- Records of one partition are handled in order; partitions run concurrently, one task each.
- A failing handler is retried with exponential backoff, then the record goes unchanged to
  the dead-letter topic with headers saying why. Undecodable records go there too.
- Commits happen periodically, on partition revoke and on graceful stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError

from core.config.settings import ConnectionSettings
from core.errors import NexusError
from core.messaging.consumer_stop import stop_consumer
from core.messaging.inbox import ReplyInbox
from core.messaging.metrics import ClientMetrics
from core.messaging.publisher import Delivery, KafkaPublisher
from core.messaging.retry import RetryPolicy
from core.wire.envelope import Envelope, EnvelopeError
from core.wire.topic_names import dead_letter_topic

log = logging.getLogger("core.messaging.subscriber")

#: Headers of a dead-lettered record (values are UTF-8 text).
DLQ_HEADERS = (
    "nexus-dlq-error", "nexus-dlq-attempts", "nexus-dlq-original-topic",
    "nexus-dlq-original-partition", "nexus-dlq-original-offset", "nexus-dlq-failed-at",
)


@dataclass
class HandlerContext:
    """What a handler gets: the envelope, where it came from, and ways to answer."""

    envelope: Envelope
    topic: str
    partition: int
    offset: int
    attempt: int
    subscriber: KafkaSubscriber

    async def reply(self, payload: Any) -> Delivery:
        """Answer this request (native JSON payload, to reply_to_topics[0])."""
        return await self.subscriber.publisher.publish(self.envelope.reply(payload))

    async def reply_error(self, error: str | BaseException) -> Delivery:
        """Answer with a Go-compatible error reply (ctx.ReplyError)."""
        return await self.subscriber.publisher.publish(self.envelope.reply_error(str(error)))

    async def dispatch(
        self, topic: str, payload: Any, expect_reply: bool = False, timeout: float = 30.0
    ) -> Envelope | Delivery:
        """Send a child message; with expect_reply, wait for its reply on this handler's own
        topic (as Go's ctx.Dispatch does) and return it."""
        own = self.envelope.destination_topic or self.topic
        child = self.envelope.child(topic, payload, reply_to=[own] if expect_reply else None)
        if not expect_reply:
            return await self.subscriber.publisher.publish(child)
        inbox = self.subscriber.inbox
        fut = inbox.expect(child.id)
        try:
            await self.subscriber.publisher.publish(child)
        except BaseException:
            inbox.discard(child.id)
            raise
        return await inbox.wait(child.id, fut, timeout)


Handler = Callable[[HandlerContext], Awaitable[None]]
ErrorHandler = Callable[[BaseException, ConsumerRecord | None], None]


_RESOLVED = object()
#: Successful handler runs counted locally before they go to the in-process metrics at once.
METRICS_EVERY = 256
Decoded = Envelope | EnvelopeError | object


@dataclass
class _Partition:
    tp: TopicPartition
    queue: deque[tuple[ConsumerRecord, Decoded]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    done_offset: int | None = None  # next offset to commit (last handled + 1)
    committed: int | None = None
    task: asyncio.Task[None] | None = None


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, subscriber: KafkaSubscriber):
        self.subscriber = subscriber

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.subscriber._release(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


class KafkaSubscriber:
    """Handlers per topic in one consumer group."""

    def __init__(
        self,
        brokers: str | ConnectionSettings,
        group_id: str,
        *,
        publisher: KafkaPublisher | None = None,
        retry: RetryPolicy | None = None,
        dead_letter: bool = True,
        dead_letter_topic_of: Callable[[str], str] = dead_letter_topic,
        on_error: ErrorHandler | None = None,
        auto_offset_reset: str = "earliest",
        fetch_max_bytes: int = 52_428_800,
        session_timeout_ms: int = 10_000,
        max_buffered_per_partition: int = 2_000,
        commit_interval_s: float = 1.0,
        client_properties: Mapping[str, Any] | None = None,
        metrics: ClientMetrics | None = None,
    ) -> None:
        self.settings = ConnectionSettings.of(brokers)
        self.group_id = group_id
        self.retry = retry or RetryPolicy()
        self.dead_letter = dead_letter
        self.dead_letter_topic_of = dead_letter_topic_of
        self.on_error = on_error
        self.metrics = metrics or (publisher.metrics if publisher else ClientMetrics())
        self._own_publisher = publisher is None
        # linger 0: a handler awaits its reply's ack, so a linger would be paid per record and
        # serialise each partition to 1/linger (measured in BENCHMARKS.md §3)
        self.publisher = publisher or KafkaPublisher(self.settings, linger_ms=0,
                                                     metrics=self.metrics)
        self.inbox = ReplyInbox()
        self._handlers: dict[str, Handler] = {}
        self._consumer_kwargs = dict(
            group_id=group_id, enable_auto_commit=False, auto_offset_reset=auto_offset_reset,
            fetch_max_bytes=fetch_max_bytes, session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=min(3000, session_timeout_ms // 3),
            **self.settings.aiokafka_kwargs(), **(client_properties or {}),
        )
        self.max_buffered = max_buffered_per_partition
        self.commit_interval_s = commit_interval_s
        self._consumer: AIOKafkaConsumer | None = None
        self._parts: dict[TopicPartition, _Partition] = {}
        self._paused: set[TopicPartition] = set()
        self._fetcher: asyncio.Task[None] | None = None
        self._running = False
        self._failure: BaseException | None = None
        self._resubscribing: asyncio.Task[None] | None = None

    # ---- registration -------------------------------------------------------------------------

    def handle(self, topic: str, handler: Handler) -> None:
        """Register the handler of `topic`; while running, the subscription grows at once."""
        self._handlers[topic] = handler
        if self._consumer is not None:
            self._resubscribing = asyncio.get_running_loop().create_task(self._resubscribe())

    async def _resubscribe(self) -> None:
        # commit first: a new subscription drops the assignment before the revoke callback runs
        await self._commit()
        if self._consumer is not None:
            self._consumer.subscribe(topics=sorted(self._handlers), listener=_Rebalance(self))

    @property
    def topics(self) -> list[str]:
        return sorted(self._handlers)

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> KafkaSubscriber:
        if self._consumer is not None:
            return self
        if not self._handlers:
            raise NexusError("register at least one handler before starting the subscriber")
        await self.publisher.start()
        self._consumer = AIOKafkaConsumer(**self._consumer_kwargs)
        self._consumer.subscribe(topics=self.topics, listener=_Rebalance(self))
        await self._consumer.start()
        self._running = True
        self._fetcher = asyncio.create_task(self._fetch_loop(), name=f"fetch:{self.group_id}")
        return self

    async def stop(self) -> None:
        """Graceful stop: finish the records being handled, commit, leave the group."""
        if self._consumer is None:
            return
        self._running = False
        if self._fetcher:
            self._fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._fetcher
        await self._release(set(self._parts))
        consumer, self._consumer = self._consumer, None
        with contextlib.suppress(Exception):
            await stop_consumer(consumer)
        if self._own_publisher:
            await self.publisher.close()

    async def run(self) -> None:
        """Start and run until cancelled or stopped; stops gracefully."""
        await self.start()
        try:
            assert self._fetcher is not None
            await self._fetcher
        finally:
            await self.stop()

    async def __aenter__(self) -> KafkaSubscriber:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer else set()

    # ---- fetching -----------------------------------------------------------------------------

    @property
    def failure(self) -> BaseException | None:
        """Why the subscriber stopped fetching on its own (None while healthy)."""
        return self._failure

    async def _fetch_loop(self) -> None:
        try:
            await self._fetch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # fatal for this subscriber: say so, never die silently
            self._failure = exc
            log.error("subscriber %s stopped fetching: %s", self.group_id, exc)
            if self.on_error is not None:
                with contextlib.suppress(Exception):
                    self.on_error(exc, None)
            raise NexusError(f"subscriber {self.group_id} stopped: {exc}") from exc

    async def _fetch(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        decode = Envelope.decode
        inbox = self.inbox
        last_commit = time.monotonic()
        while self._running:
            batches = await consumer.getmany(timeout_ms=100, max_records=5_000)
            for tp, records in batches.items():
                part = self._parts.get(tp)
                if part is None:
                    part = self._parts[tp] = _Partition(tp)
                    part.idle.set()
                    part.task = asyncio.create_task(self._work(part), name=f"handle:{tp}")
                append = part.queue.append
                for record in records:  # _decode(), inline: one method call less per record
                    try:
                        envelope = decode(record.value or b"")
                    except EnvelopeError as exc:
                        append((record, exc))
                        continue
                    if envelope.request_id and len(inbox) and inbox.resolve(envelope):
                        append((record, _RESOLVED))  # a reply our own handler waits for
                    else:
                        append((record, envelope))
                part.wake.set()
                self.metrics.inc("consumed", tp.topic, len(records))
                if len(part.queue) >= self.max_buffered and tp not in self._paused:
                    consumer.pause(tp)
                    self._paused.add(tp)
            self._resume_drained(consumer)
            self._report_lag(consumer)
            if time.monotonic() - last_commit >= self.commit_interval_s:
                await self._commit()
                last_commit = time.monotonic()

    def _resume_drained(self, consumer: AIOKafkaConsumer) -> None:
        for tp in list(self._paused):
            part = self._parts.get(tp)
            if part is None or len(part.queue) < self.max_buffered // 2:
                self._paused.discard(tp)
                if tp in consumer.assignment():
                    consumer.resume(tp)

    def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        assigned = consumer.assignment()
        for tp, part in self._parts.items():
            if tp not in assigned:  # mid-rebalance: the revoke callback will drop it
                continue
            high = consumer.highwater(tp)
            if high is not None and part.done_offset is not None:
                self.metrics.lag(tp.topic, tp.partition, max(0, high - part.done_offset))

    # ---- handling -----------------------------------------------------------------------------

    async def _work(self, part: _Partition) -> None:
        """Handle the partition's records in order, each committed only once handled.

        The common case (an envelope, a handler, success at the first attempt) runs inline
        here; the rest goes through _process. Handler runs are counted in the in-process
        metrics once per run of records (before the worker waits, or every METRICS_EVERY
        records) rather than per record, unless they are exported to Prometheus, whose
        histogram takes each run time."""
        queue = part.queue
        popleft = queue.popleft
        handlers = self._handlers
        metrics = self.metrics
        topic = part.tp.topic
        perf_counter = time.perf_counter
        while True:
            if not queue:
                part.idle.set()
                part.wake.clear()
                await part.wake.wait()
                continue
            part.idle.clear()
            exported = metrics.exported
            ok, total, longest = 0, 0.0, 0.0
            try:
                while queue:
                    record, decoded = popleft()
                    handler = handlers.get(topic)
                    if type(decoded) is not Envelope or handler is None:
                        if decoded is not _RESOLVED:
                            await self._process(record, decoded)
                        part.done_offset = record.offset + 1
                        continue
                    ctx = HandlerContext(decoded, topic, record.partition, record.offset, 1, self)
                    started = perf_counter()
                    try:
                        await handler(ctx)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        metrics.handler_time(topic, perf_counter() - started)
                        await self._retry(record, decoded, exc)
                    else:
                        spent = perf_counter() - started
                        if exported:
                            metrics.handler_time(topic, spent)
                            metrics.inc("handled_ok", topic)
                        else:
                            ok += 1
                            total += spent
                            if spent > longest:
                                longest = spent
                            if ok == METRICS_EVERY:
                                metrics.handled(topic, ok, total, longest)
                                ok, total, longest = 0, 0.0, 0.0
                    part.done_offset = record.offset + 1
            finally:
                if ok:
                    metrics.handled(topic, ok, total, longest)

    async def _retry(self, record: ConsumerRecord, envelope: Envelope,
                     error: BaseException) -> None:
        """The first attempt failed (and was timed): count it, back off, go on in _process."""
        self.metrics.inc("handled_failed", record.topic)
        self._report(error, record)
        if self.retry.attempts > 1:
            self.metrics.inc("retries", record.topic)
            await asyncio.sleep(self.retry.backoff(1))
        await self._process(record, envelope, 2, error)

    async def _process(self, record: ConsumerRecord, decoded: Decoded, first_attempt: int = 1,
                       error: BaseException | None = None) -> None:
        if isinstance(decoded, EnvelopeError):
            self.metrics.inc("undecodable", record.topic)
            self._report(decoded, record)
            await self._to_dead_letter(record, f"undecodable: {decoded}", 0)
            return
        assert isinstance(decoded, Envelope)
        envelope = decoded
        handler = self._handlers.get(record.topic)
        if handler is None:  # topic dropped while records were buffered: leave it uncommitted
            return
        for attempt in range(first_attempt, self.retry.attempts + 1):
            ctx = HandlerContext(envelope, record.topic, record.partition, record.offset,
                                 attempt, self)
            started = time.perf_counter()
            try:
                await handler(ctx)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.handler_time(record.topic, time.perf_counter() - started)
                error = exc
                self.metrics.inc("handled_failed", record.topic)
                self._report(exc, record)
                if attempt < self.retry.attempts:
                    self.metrics.inc("retries", record.topic)
                    await asyncio.sleep(self.retry.backoff(attempt))
                continue
            self.metrics.handler_time(record.topic, time.perf_counter() - started)
            self.metrics.inc("handled_ok", record.topic)
            return
        assert error is not None
        await self._to_dead_letter(record, f"{type(error).__name__}: {error}",
                                   self.retry.attempts)

    def _report(self, exc: BaseException, record: ConsumerRecord) -> None:
        if self.on_error is None:
            log.warning("%s[%d]@%d: %s", record.topic, record.partition, record.offset, exc)
            return
        try:
            self.on_error(exc, record)
        except Exception:  # a broken error handler must not stop consumption
            log.exception("error handler failed")

    async def _to_dead_letter(self, record: ConsumerRecord, error: str, attempts: int) -> None:
        if not self.dead_letter:
            log.error("dropping %s[%d]@%d after %d attempts: %s", record.topic, record.partition,
                      record.offset, attempts, error)
            return
        headers = list(zip(DLQ_HEADERS, (
            error.encode(), str(attempts).encode(), record.topic.encode(),
            str(record.partition).encode(), str(record.offset).encode(),
            datetime.now(UTC).isoformat(timespec="milliseconds").encode(),
        ), strict=True))
        topic = self.dead_letter_topic_of(record.topic)
        failures = 0
        while True:  # never skip: hold the partition until the dead-letter copy is acknowledged
            try:
                await self.publisher.publish_raw(topic, record.value or b"", record.key, headers)
                self.metrics.inc("dead_lettered", record.topic)
                return
            except NexusError as exc:
                failures += 1
                self._report(exc, record)
                await asyncio.sleep(self.retry.backoff(min(failures, 10)))

    # ---- commits ------------------------------------------------------------------------------

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        offsets = {
            tp: part.done_offset for tp, part in self._parts.items()
            if part.done_offset is not None and part.done_offset != part.committed
            and tp in assigned and (only is None or tp in only)
        }
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:  # rebalancing: re-delivered, not lost
            log.warning("commit of %s failed: %s", self.group_id, exc)
            return
        for tp, offset in offsets.items():
            self._parts[tp].committed = offset

    async def _release(self, revoked: set[TopicPartition]) -> None:
        """Partitions go away (revoke or stop): finish the record in hand, commit, forget."""
        parts = [self._parts[tp] for tp in revoked if tp in self._parts]
        for part in parts:
            part.queue.clear()  # not handled yet: the next owner fetches them again
        if parts:
            await asyncio.gather(*(p.idle.wait() for p in parts))
        await self._commit(only=revoked)
        for part in parts:
            if part.task:
                part.task.cancel()
            self._parts.pop(part.tp, None)
            self._paused.discard(part.tp)

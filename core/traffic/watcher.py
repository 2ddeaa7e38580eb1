"""TrafficWatcher: Nexus-aware error rates of live traffic, read from the end of topics.

The watcher tails the topics it is given with one aiokafka consumer that has **no group**:
it assigns every partition itself and starts at the log end, never commits and never joins
(or shows up in) any consumer group, so it is a pure read, allowed on read-only connections
and invisible to the services it watches. Each record is decoded as a Nexus envelope and
counted in a `TrafficWindow` (see core/traffic/window.py for the window, unanswered,
latency and memory rules).

What it follows on its own:

* **Reply topics.** Replies go to a request's ``reply_to_topics[0]``; to match them the
  watcher must read that topic too. When a request names a reply topic that is not watched
  (and was not `unwatch`-ed), the watcher follows it (role ``reply``) once it exists,
  starting from the request record's timestamp minus `REPLY_LOOKBACK_MS` (for clock skew
  between hosts), so the replies to the very request that revealed the topic are not missed
  (records read from that look-back are counted when read). A reply topic that does not
  exist yet is picked up at the next metadata check (``metadata_interval_s``), also from
  that timestamp: its replies still match as long as their requests have not timed out.
  At most `MAX_FOLLOWED_REPLY_TOPICS` are followed. Reply topics known in advance are best
  watched explicitly.
* **Dead-letter topics.** ``<topic>.dlq`` of every watched topic, when it exists (and any
  ``.dlq`` topic given explicitly), is *not consumed*: each refresh samples its end offsets
  in one batched ListOffsets round, and the deltas are its inflow. Optionally the last few
  new records of each grown partition are read (at most `dead_letter_tail` per partition
  and refresh, `MAX_TAIL_PARTITIONS` partitions, within `TAIL_BUDGET_S`) for their
  ``nexus-dlq-*`` headers.
* **Topics that do not exist yet** are waited for (checked every ``metadata_interval_s``)
  and read from the time they were asked for; partitions added to a consumed topic are read
  from their beginning; a `.dlq` topic's partition count is read when it is first sampled.
* **Deleted topics** are never re-created by the watcher: its consumers' metadata requests
  do not allow auto-creation (core/compat.py `no_topic_auto_creation`), and the metadata
  check drops a topic that is gone from the cluster and waits for it like a missing one.

`positioned()` returns once every change asked for (start, `watch`) is in place: the
consumer sits at its start offsets (records produced afterwards will be counted) and every
existing dead-letter topic has its baseline sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from confluent_kafka import TopicPartition as ConfluentPartition
from confluent_kafka.admin import OffsetSpec

from core.cluster.admin import ClusterUnreachable, KafkaAdmin, NotFound
from core.compat import no_topic_auto_creation
from core.config.settings import ConnectionSettings
from core.errors import NexusError
from core.messaging.consumer_stop import stop_consumer
from core.messaging.subscriber import DLQ_HEADERS
from core.traffic.window import (
    DEFAULT_MAX_PENDING,
    DEFAULT_UNANSWERED_AFTER_S,
    DEFAULT_WINDOW_S,
    ERROR_TEXT_MAX,
    DeadLetter,
    DeadLetterOffsets,
    ErrorReply,
    TopicRole,
    TopicTraffic,
    TrafficWindow,
)
from core.wire.envelope import Envelope, EnvelopeError, MessageKind
from core.wire.topic_names import (
    DEAD_LETTER_SUFFIX,
    TopicNameError,
    dead_letter_topic,
    is_dead_letter_topic,
    validate_kafka_topic,
)

__all__ = [
    "DeadLetter",
    "ErrorReply",
    "TopicRole",
    "TopicTraffic",
    "TrafficWatcher",
    "dead_letter_of",
]

log = logging.getLogger("core.traffic.watcher")

REPLY_LOOKBACK_MS = 1_000
MAX_FOLLOWED_REPLY_TOPICS = 1_000
MAX_IGNORED = 10_000
MAX_TAIL_PARTITIONS = 8
TAIL_BUDGET_S = 2.0
DELETED_CHECK_S = 0.1
_FETCH_TIMEOUT_MS = 200
_MAX_RECORDS = 10_000

Clock = Callable[[], float]


def _header(headers: Iterable[tuple[str, bytes]], name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value.decode("utf-8", "replace")
    return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def dead_letter_of(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    """A dead-lettered record as the UI shows it (its ``nexus-dlq-*`` headers decoded)."""
    error_h, attempts_h, topic_h, partition_h, offset_h, failed_h = DLQ_HEADERS
    headers = record.headers or ()
    try:
        envelope_id: str | None = Envelope.decode(record.value or b"").id or None
    except EnvelopeError:
        envelope_id = None
    error = _header(headers, error_h) or ""
    return DeadLetter(
        topic=record.topic, partition=record.partition, offset=record.offset,
        timestamp_ms=record.timestamp, error=error[:ERROR_TEXT_MAX],
        attempts=_int_or_none(_header(headers, attempts_h)),
        original_topic=_header(headers, topic_h),
        original_partition=_int_or_none(_header(headers, partition_h)),
        original_offset=_int_or_none(_header(headers, offset_h)),
        failed_at=_header(headers, failed_h), envelope_id=envelope_id,
    )


class TrafficWatcher:
    """Error rates, unanswered requests, latency and dead-letter inflow of live topics."""

    def __init__(
        self,
        brokers: str | ConnectionSettings,
        topics: Iterable[str] = (),
        *,
        window_s: float = DEFAULT_WINDOW_S,
        unanswered_after_s: float = DEFAULT_UNANSWERED_AFTER_S,
        max_pending: int = DEFAULT_MAX_PENDING,
        follow_replies: bool = True,
        follow_dead_letters: bool = True,
        dead_letter_tail: int = 5,
        refresh_s: float = 1.0,
        metadata_interval_s: float = 10.0,
        clock: Clock = time.monotonic,
        admin: KafkaAdmin | None = None,
    ) -> None:
        """`clock` (seconds) times the window and the unanswered timeout; inject one in tests.

        `refresh_s` paces dead-letter sampling and expiry; `metadata_interval_s` how often
        missing topics are looked for; `dead_letter_tail` = 0 turns off reading dead letters.
        """
        self.settings = ConnectionSettings.of(brokers)
        self.window = TrafficWindow(window_s, unanswered_after_s, max_pending)
        self.follow_replies = follow_replies
        self.follow_dead_letters = follow_dead_letters
        self.dead_letter_tail = max(0, dead_letter_tail)
        self.refresh_s = refresh_s
        self.metadata_interval_s = metadata_interval_s
        self.clock = clock
        self.client_id = f"nexus-tui-traffic-{uuid.uuid4().hex[:8]}"
        self.last_error: str | None = None
        """The last refresh or assignment error (cluster unreachable...); None after success."""
        self._admin = admin
        # Topics to consume -> where a newly assigned one starts (ms timestamp; None: the end).
        self._consumed: dict[str, int | None] = {}
        self._assigned: dict[str, int] = {}  # topic -> partitions the consumer reads
        self._missing: set[str] = set()
        self._ignored: set[str] = set()
        self._followed = 0
        self._dead_letter_topics: set[str] = set()
        self._automatic_dead_letters: set[str] = set()
        self._unchecked: set[str] = set()  # dead-letter topics not looked up yet
        self._dlq_partitions: dict[str, int] = {}
        self._dlq_generation = 0
        self._offsets = DeadLetterOffsets()
        self._existing: set[str] = set()
        self._last_metadata = float("-inf")
        self._next_deleted_check = float("-inf")
        self._consumer: AIOKafkaConsumer | None = None
        self._tail_consumer: AIOKafkaConsumer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty = asyncio.Event()
        self._consumer_settled = asyncio.Event()
        self._dead_letters_settled = asyncio.Event()
        self._wake_refresh = asyncio.Event()
        for topic in topics:
            self.watch(topic)

    # ---- what is watched ----------------------------------------------------------------------

    def watch(self, topic: str) -> None:
        """Watch `topic` from now on (a `.dlq` topic is sampled, not consumed)."""
        validate_kafka_topic(topic)
        self._ignored.discard(topic)
        if is_dead_letter_topic(topic):
            self._automatic_dead_letters.discard(topic)
            self._add_dead_letter_topic(topic)
            self.window.add_topic(topic, TopicRole.DEAD_LETTER, self.clock())
            return
        self._consume(topic, TopicRole.WATCHED, None)

    def unwatch(self, topic: str) -> None:
        """Stop watching `topic` (as a watched, followed reply or dead-letter topic); a topic
        that was unwatched is not followed automatically again until `watch`-ed."""
        self._ignored.add(topic)
        self.window.remove_topic(topic)
        self._missing.discard(topic)
        if topic in self._consumed:
            del self._consumed[topic]
            self._changed()
            automatic = topic + DEAD_LETTER_SUFFIX
            if automatic in self._automatic_dead_letters:
                self._drop_dead_letter_topic(automatic)
        self._drop_dead_letter_topic(topic)

    def _consume(self, topic: str, role: TopicRole, since_ms: int | None) -> None:
        if topic in self._consumed:
            if role is TopicRole.WATCHED:  # a followed reply topic becomes a watched one
                self.window.add_topic(topic, role, self.clock())
            return
        self._consumed[topic] = since_ms
        self.window.add_topic(topic, role, self.clock())
        if self.follow_dead_letters:
            with contextlib.suppress(TopicNameError):  # name too long for a `.dlq` sibling
                dlq = dead_letter_topic(topic)
                if dlq not in self._dead_letter_topics and dlq not in self._ignored:
                    self._automatic_dead_letters.add(dlq)
                    self._add_dead_letter_topic(dlq)
        self._changed()

    def _add_dead_letter_topic(self, topic: str) -> None:
        if topic in self._dead_letter_topics:
            return
        self._dead_letter_topics.add(topic)
        self._unchecked.add(topic)
        self._dlq_generation += 1
        self._dead_letters_settled.clear()
        self._wake_refresh.set()

    def _drop_dead_letter_topic(self, topic: str) -> None:
        self._dead_letter_topics.discard(topic)
        self._automatic_dead_letters.discard(topic)
        self._unchecked.discard(topic)
        self._dlq_partitions.pop(topic, None)
        self._offsets.forget([topic])
        self.window.remove_topic(topic)

    def _changed(self) -> None:
        self._consumer_settled.clear()
        self._dirty.set()

    @property
    def watched(self) -> dict[str, TopicRole]:
        """Every tracked topic and why (watched, followed reply topic, dead-letter topic)."""
        return {t: r for t in self.window.topics if (r := self.window.role(t)) is not None}

    @property
    def missing_topics(self) -> list[str]:
        """Topics to consume (asked for, or reply topics) that do not exist (yet)."""
        return sorted(self._missing)

    @property
    def assignment(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs the consumer reads."""
        return {(t, p) for t, n in self._assigned.items() for p in range(n)}

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> TrafficWatcher:
        """Connect, position every watched topic at its end, start tailing and sampling.

        Returns at once; `await positioned()` to know when records start being counted.
        """
        if self._consumer is not None:
            return self
        self._admin = self._admin or KafkaAdmin(self.settings)
        await self._refresh_metadata()
        consumer = self._new_consumer()
        try:
            await consumer.start()
        except KafkaError as exc:
            with contextlib.suppress(Exception):
                await stop_consumer(consumer)
            raise ClusterUnreachable(f"cannot reach {self.settings.bootstrap}: {exc}") from None
        self._consumer = consumer
        self._changed()
        self._tasks = [
            asyncio.create_task(self._consume_loop(consumer), name="traffic-consume"),
            asyncio.create_task(self._refresh_loop(), name="traffic-refresh"),
        ]
        return self

    def _new_consumer(self) -> AIOKafkaConsumer:
        # group_id=None: no group, no coordinator, no commits (aiokafka refuses commit()).
        consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
            client_id=self.client_id, metadata_max_age_ms=30_000,
            request_timeout_ms=int(max(self.settings.request_timeout_s, 5) * 1000) + 1000,
            **self.settings.aiokafka_kwargs(),
        )
        # A read must never create a topic: once a topic we tail is deleted, the consumer
        # asks for its metadata again, which a broker with auto.create.topics.enable=true
        # (Kafka's default) answers by re-creating it empty. Where this cannot be set, the
        # metadata check below drops vanished topics (a smaller window, not none).
        no_topic_auto_creation(consumer)
        return consumer

    async def stop(self) -> None:
        """Stop tailing and close the consumers (nothing to commit, no group to leave)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for consumer in (self._consumer, self._tail_consumer):
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await stop_consumer(consumer)
        self._consumer = self._tail_consumer = None
        self._assigned = {}

    async def __aenter__(self) -> TrafficWatcher:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def positioned(self, timeout: float | None = None) -> None:
        """Wait until the consumer sits at its start offsets and every existing dead-letter
        topic has its baseline sample: records produced from now on are counted."""
        if self._consumer is None:
            raise NexusError("the traffic watcher is not started (use `async with` or start())")
        timeout = self.settings.request_timeout_s * 3 if timeout is None else timeout
        try:
            await asyncio.wait_for(self._settled(), timeout)
        except TimeoutError:
            why = f": {self.last_error}" if self.last_error else ""
            raise ClusterUnreachable(
                f"could not position on {self.settings.bootstrap} within {timeout:g} s{why}"
            ) from None

    async def _settled(self) -> None:
        events = (self._consumer_settled, self._dead_letters_settled)
        while not all(event.is_set() for event in events):
            self._raise_if_failed()
            waits = [asyncio.ensure_future(event.wait()) for event in events]
            # wake up now and then to notice a failed task instead of waiting forever
            _, unfinished = await asyncio.wait(waits, timeout=0.5)
            for fut in unfinished:
                fut.cancel()
        self._raise_if_failed()

    @property
    def failure(self) -> BaseException | None:
        """Why the watcher stopped working on its own (None while healthy)."""
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                return task.exception()
        return None

    def _raise_if_failed(self) -> None:
        failure = self.failure
        if failure is not None:
            raise NexusError(f"traffic watcher stopped: {failure}")

    # ---- readings -----------------------------------------------------------------------------

    def stats(self, now: float | None = None) -> dict[str, TopicTraffic]:
        """Per-topic traffic over the window ending at `now` (default: the clock)."""
        return self.window.stats(self.clock() if now is None else now)

    def total(self, now: float | None = None) -> TopicTraffic:
        """All tracked topics together (topic "*"), for the overview."""
        return self.window.total(self.clock() if now is None else now)

    def recent_errors(self) -> list[ErrorReply]:
        """The last error replies seen (bounded), oldest first."""
        return self.window.recent_errors()

    def recent_dead_letters(self) -> list[DeadLetter]:
        """The last dead-lettered records read from `.dlq` tails (bounded), oldest first."""
        return self.window.recent_dead_letters()

    # ---- consuming ----------------------------------------------------------------------------

    async def _consume_loop(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            if self._dirty.is_set():
                await self._settle_assignment(consumer)
            if not self._assigned:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._dirty.wait(), _FETCH_TIMEOUT_MS / 1000)
                continue
            batches = await consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS,
                                             max_records=_MAX_RECORDS)
            now = self.clock()
            for records in batches.values():
                for record in records:
                    self._observe(record, now)
            await self._drop_deleted(consumer)

    async def _drop_deleted(self, consumer: AIOKafkaConsumer) -> None:
        """A read topic gone from the consumer's metadata may have been deleted: check the
        cluster's metadata now (at most every `DELETED_CHECK_S`) and stop reading it if so.

        Checked here, between two fetches, so that the assignment changes at once: aiokafka's
        fetcher, left with a partition whose topic is gone, asks for metadata again in a
        tight loop until the partition is unassigned."""
        now = time.monotonic()
        if now < self._next_deleted_check:
            return
        self._next_deleted_check = now + DELETED_CHECK_S
        if all(consumer.partitions_for_topic(t) is not None for t in self._assigned):
            return
        try:
            await self._refresh_metadata()  # drops a deleted topic (and marks the change)
        except NexusError as exc:  # the refresh loop retries and reports it
            log.warning("traffic watcher: looking for deleted topics: %s", exc)

    async def _settle_assignment(self, consumer: AIOKafkaConsumer) -> None:
        self._dirty.clear()
        try:
            await self._apply_assignment(consumer)
        except (NexusError, KafkaError) as exc:  # retried on the next turn
            self.last_error = f"assigning partitions: {exc}"
            log.warning("traffic watcher: %s", self.last_error)
            self._dirty.set()
            await asyncio.sleep(min(self.refresh_s, 1.0))  # back off before the retry
            return
        if not self._dirty.is_set():
            self._consumer_settled.set()

    def _observe(self, record: ConsumerRecord[bytes, bytes], now: float) -> None:
        topic = record.topic
        try:
            envelope = Envelope.decode(record.value or b"")
        except EnvelopeError:
            self.window.record_undecodable(topic, now)
            return
        kind = envelope.kind
        if kind is MessageKind.REQUEST:
            self.window.record_request(topic, envelope.id, envelope.created_at, now)
            if self.follow_replies:
                self._follow_reply_topic(envelope.reply_to_topics[0], record.timestamp)
        elif kind is MessageKind.EVENT:
            self.window.record_event(topic, now)
        else:
            error = (envelope.error_message or "") if kind is MessageKind.ERROR_REPLY else None
            self.window.record_reply(topic, envelope.request_id, envelope.created_at, now, error)

    def _follow_reply_topic(self, topic: str, timestamp_ms: int) -> None:
        if topic in self._consumed or topic in self._ignored:
            return
        if not self._followable(topic):
            if len(self._ignored) < MAX_IGNORED:
                self._ignored.add(topic)
            return
        if timestamp_ms < 0:  # no timestamp on the record: our own clock then
            timestamp_ms = int(time.time() * 1000)
        self._followed += 1
        self._consume(topic, TopicRole.REPLY, max(0, timestamp_ms - REPLY_LOOKBACK_MS))

    def _followable(self, topic: str) -> bool:
        if self._followed >= MAX_FOLLOWED_REPLY_TOPICS or is_dead_letter_topic(topic):
            return False
        try:
            validate_kafka_topic(topic)
        except TopicNameError:
            return False
        return True

    async def _apply_assignment(self, consumer: AIOKafkaConsumer) -> None:
        """Bring the consumer's assignment in line with the topics to consume."""
        wanted = await self._partition_counts(consumer)
        current = {TopicPartition(t, p) for t, n in self._assigned.items() for p in range(n)}
        target = {TopicPartition(t, p) for t, n in wanted.items() for p in range(n)}
        if target != current:
            # assign() replaces the assignment and forgets positions: carry them over.
            positions = {tp: await consumer.position(tp) for tp in current & target}
            consumer.assign(sorted(target))
            for tp, offset in positions.items():
                consumer.seek(tp, offset)
            await self._seek_new(consumer, sorted(target - current))
        now = self.clock()
        for topic in set(wanted) - set(self._assigned):
            self.window.set_origin(topic, now)
        self._assigned = wanted

    async def _partition_counts(self, consumer: AIOKafkaConsumer) -> dict[str, int]:
        """Partitions of every topic to consume that exists (new ones looked up once)."""
        assert self._admin is not None
        counts: dict[str, int] = {}
        for topic in self._consumed:
            if topic in self._missing:  # retried when the metadata has it (again)
                continue
            if topic in self._assigned:  # grown partitions show in the consumer's metadata
                known = consumer.partitions_for_topic(topic) or ()
                counts[topic] = max(len(known), self._assigned[topic])
            else:
                try:
                    counts[topic] = await self._admin.partitions_of(topic)
                except NotFound:
                    self._missing.add(topic)
                    if self._consumed[topic] is None:  # read it from now on once it exists
                        self._consumed[topic] = int(time.time() * 1000)
        return counts

    async def _seek_new(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        """Position new partitions: at the end, at their topic's start time, or (partitions
        added to a consumed topic) at their first record."""
        if not tps:
            return
        ends = await consumer.end_offsets(tps)  # read before the time lookup: nothing skipped
        starts: dict[TopicPartition, int] = {}
        for tp in tps:
            since = self._consumed.get(tp.topic)
            if tp.topic in self._assigned:
                starts[tp] = 0
            elif since is not None:
                starts[tp] = since
        found = await consumer.offsets_for_times(starts) if starts else {}
        for tp in tps:
            hit = found.get(tp)
            consumer.seek(tp, hit.offset if hit is not None else ends[tp])
        for tp in tps:
            await consumer.position(tp)

    # ---- refreshing: metadata, expiry, dead letters ---------------------------------------------

    async def _refresh_loop(self) -> None:
        while True:
            self._wake_refresh.clear()
            generation = self._dlq_generation
            try:
                await self._refresh()
                self.last_error = None
            except NexusError as exc:
                self.last_error = str(exc)
                log.warning("traffic refresh failed: %s", exc)
            else:
                if generation == self._dlq_generation:
                    self._dead_letters_settled.set()
            if self._wake_refresh.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_refresh.wait(), self.refresh_s)

    async def _refresh(self) -> None:
        self.window.expire(self.clock())
        if self._unchecked or (
                time.monotonic() - self._last_metadata >= self.metadata_interval_s):
            await self._refresh_metadata()
        await self._sample_dead_letters()

    async def _refresh_metadata(self) -> None:
        """One Metadata request (of the whole cluster: it never creates a topic): which of the
        topics asked for exist now, and which of those read until now were deleted."""
        assert self._admin is not None
        unchecked = set(self._unchecked)
        assigned = set(self._assigned)  # a topic assigned meanwhile may be newer than the answer
        sampled = set(self._dlq_partitions)
        self._existing = set(await self._admin.topic_names())
        self._last_metadata = time.monotonic()
        self._unchecked -= unchecked
        self._drop_vanished(assigned & set(self._assigned), sampled)
        appeared = self._missing & self._existing
        if appeared:
            self._missing -= appeared
            self._changed()
        for topic in sorted(self._dead_letter_topics - set(self._dlq_partitions)):
            if topic in self._existing:
                await self._start_dead_letter_topic(topic)

    def _drop_vanished(self, assigned: set[str], sampled: set[str]) -> None:
        """Stop reading (and sampling) the topics deleted since they were last seen: they are
        waited for like a missing topic, and read from the time they were found gone if they
        come back."""
        vanished = {t for t in assigned - self._existing if t in self._consumed}
        for topic in sorted(vanished):
            log.info("traffic watcher: topic %s was deleted; waiting for it to come back", topic)
            self._missing.add(topic)
            self._consumed[topic] = int(time.time() * 1000)
        if vanished:
            self._changed()
        gone = {t for t in sampled - self._existing if t in self._dlq_partitions}
        for topic in gone:  # started again by the metadata check that finds it
            del self._dlq_partitions[topic]
            self._offsets.forget([topic])

    async def _start_dead_letter_topic(self, topic: str) -> None:
        assert self._admin is not None
        try:
            partitions = await self._admin.partitions_of(topic)
        except NotFound:
            return
        if topic in self._dead_letter_topics:  # not unwatched meanwhile
            self._dlq_partitions[topic] = partitions
            self.window.add_topic(topic, TopicRole.DEAD_LETTER, self.clock())

    async def _sample_dead_letters(self) -> None:
        """One ListOffsets round for every dead-letter partition; count what was appended."""
        assert self._admin is not None
        tps = [ConfluentPartition(t, p) for t, n in sorted(self._dlq_partitions.items())
               for p in range(n)]
        if not tps:
            return
        fresh = [t for t in self._dlq_partitions if not self._offsets.known(t)]
        errors: list[str] = []
        ends = await self._admin.list_offsets(tps, OffsetSpec.latest(), errors)
        ends = {tp: end for tp, end in ends.items() if tp[0] in self._dlq_partitions}
        grown = self._offsets.update(ends)
        now = self.clock()
        for topic in fresh:
            if self._offsets.known(topic):
                self.window.set_origin(topic, now)
        for (topic, _), (before, after) in grown.items():
            self.window.record_dead_letters(topic, after - before, now)
        if errors:
            raise NexusError("; ".join(errors[:3]))
        if grown and self.dead_letter_tail:
            await self._read_tails(grown)

    async def _read_tails(self, grown: dict[tuple[str, int], tuple[int, int]]) -> None:
        """Read the last few new records of grown dead-letter partitions (bounded)."""
        by_growth = sorted(grown.items(), key=lambda item: item[1][0] - item[1][1])  # most first
        targets = by_growth[:MAX_TAIL_PARTITIONS]
        ends = {TopicPartition(t, p): end for (t, p), (_, end) in targets}
        starts = {tp: max(grown[(tp.topic, tp.partition)][0], end - self.dead_letter_tail)
                  for tp, end in ends.items()}
        try:
            records = await self._fetch_range(await self._tail(), starts, ends)
        except KafkaError as exc:
            raise NexusError(f"reading dead letters: {exc}") from None
        for record in sorted(records, key=lambda r: (r.timestamp, r.topic, r.partition)):
            self.window.add_dead_letter(dead_letter_of(record))

    async def _fetch_range(
        self, consumer: AIOKafkaConsumer, starts: dict[TopicPartition, int],
        ends: dict[TopicPartition, int],
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Records of [start, end) per partition, within TAIL_BUDGET_S."""
        consumer.assign(sorted(starts))
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        left = dict(ends)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + TAIL_BUDGET_S
        try:
            while left and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS,
                                                 max_records=self.dead_letter_tail * len(left))
                for tp, batch in batches.items():
                    records += [r for r in batch if r.offset < ends[tp]]
                for tp in list(left):
                    if await consumer.position(tp) >= left[tp]:
                        del left[tp]
        finally:
            consumer.assign([])  # stop prefetching until the next tail read
        return records

    async def _tail(self) -> AIOKafkaConsumer:
        if self._tail_consumer is None:
            consumer = self._new_consumer()
            await consumer.start()
            self._tail_consumer = consumer
        return self._tail_consumer

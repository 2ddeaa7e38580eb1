"""Message browsing: read records of a topic for the Messages screen and `nexus-tui messages`.

Everything here reads without a consumer group: an aiokafka consumer is assigned the
partitions and seeks itself, so browsing never commits an offset, never creates a group and
never disturbs the services whose traffic it shows.

- `browse()` reads a bounded range of one topic (from an offset, a time, the beginning, or the
  last N records of each partition) up to the log end as it was when the call started, keeps
  the records a `RecordFilter` accepts, and returns at most `limit` of them in time order.
- `LiveTail` (started by `tail()`) follows new records from the end, keeping the latest N in a
  bounded deque, and is also an async iterator of them.
- `follow_conversation()` finds every record of one conversation across topics. Nexus keys
  every record by its `root_id`, so in each topic a conversation lives on exactly one
  partition: only that partition is read (its last `per_partition_scan` records).

Records are `BrowsedRecord`s: the Kafka metadata, the decoded `Envelope` (or why it is not
one) and the raw value, truncated to `RAW_LIMIT` bytes so that a huge record cannot blow up
memory or the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError
from confluent_kafka import TopicPartition as CTopicPartition
from confluent_kafka.admin import OffsetSpec

from core.cluster.admin import ClusterUnreachable, KafkaAdmin, NotFound
from core.config.settings import ConnectionSettings
from core.errors import ConfigError, NexusError
from core.messaging.consumer_stop import stop_consumer
from core.wire.envelope import Envelope, EnvelopeError, MessageKind
from core.wire.partitioner import partition_for_key

__all__ = [
    "RAW_LIMIT",
    "UNDECODABLE",
    "Beginning",
    "BrowseResult",
    "BrowsedRecord",
    "Conversation",
    "LiveTail",
    "Offset",
    "PartitionScan",
    "RecordFilter",
    "StartAt",
    "Tail",
    "Timestamp",
    "browse",
    "follow_conversation",
    "printable",
    "tail",
]

#: Raw values are kept up to this many bytes (`BrowsedRecord.truncated` says when cut).
RAW_LIMIT = 64 * 1024
#: `BrowsedRecord.kind` of a record that is not a Nexus envelope.
UNDECODABLE = "undecodable"
SUMMARY_WIDTH = 80
_MAX_POLL_RECORDS = 500
_POLL_MS = 200


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrowsedRecord:
    """One Kafka record as the Messages screen shows it.

    `key` is the record key as UTF-8 text (invalid bytes replaced), None for a null key.
    `size` is the full value size in bytes; `raw` holds at most `RAW_LIMIT` bytes of it, and
    `truncated` tells whether it was cut. `envelope` is the decoded Nexus envelope, or None
    with `decode_error` saying why not (the decode always ran on the whole value).
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    size: int
    headers: tuple[tuple[str, bytes], ...]
    envelope: Envelope | None
    decode_error: str | None
    raw: bytes
    truncated: bool = False

    @classmethod
    def from_value(
        cls,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes | None]] = (),
    ) -> BrowsedRecord:
        """Build a record from what Kafka returned: decode the envelope, bound the raw value."""
        envelope: Envelope | None = None
        error: str | None = None
        if value is None:
            error = "null value (tombstone)"
        else:
            try:
                envelope = Envelope.decode(value)
            except EnvelopeError as exc:
                error = str(exc)
        data = value or b""
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp_ms=timestamp_ms,
            key=None if key is None else key.decode("utf-8", "replace"),
            size=len(data),
            headers=tuple((name, val if val is not None else b"") for name, val in headers),
            envelope=envelope,
            decode_error=error,
            raw=data[:RAW_LIMIT],
            truncated=len(data) > RAW_LIMIT,
        )

    @classmethod
    def from_consumer_record(cls, record: ConsumerRecord[bytes, bytes]) -> BrowsedRecord:
        """Build a record from an aiokafka ConsumerRecord."""
        return cls.from_value(
            record.topic, record.partition, record.offset, record.timestamp, record.key,
            record.value, record.headers or (),
        )

    # -- what it is ------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """The envelope's MessageKind (a str), or "undecodable"."""
        return self.envelope.kind if self.envelope is not None else UNDECODABLE

    @property
    def id(self) -> str:
        """The envelope id ("" when undecodable)."""
        return self.envelope.id if self.envelope is not None else ""

    @property
    def root_id(self) -> str | None:
        """The envelope's root_id; for an undecodable record its key (Nexus keys by root_id)."""
        return self.envelope.root_id if self.envelope is not None else self.key

    @property
    def created_at_ns(self) -> int:
        """The envelope's created_at (Unix ns), else the record timestamp in ns."""
        if self.envelope is not None and self.envelope.created_at:
            return self.envelope.created_at
        return self.timestamp_ms * 1_000_000

    @property
    def time(self) -> datetime:
        """The record timestamp as an aware UTC datetime."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def payload_base64(self) -> bool:
        """True when the payload is base64 of JSON on the wire (Go's ctx.Dispatch)."""
        env = self.envelope
        return env is not None and isinstance(env.payload, str) and (
            env.payload_json() is not env.payload
        )

    def text(self) -> str | None:
        """The raw value as text, or None when it is not UTF-8 (binary)."""
        try:
            return self.raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if self.truncated and exc.start >= len(self.raw) - 3:  # cut inside a character
                return self.raw[: exc.start].decode("utf-8", "replace")
            return None

    # -- how it is shown -------------------------------------------------------------------------

    def summary(self, width: int = SUMMARY_WIDTH) -> str:
        """One line: the payload as compact JSON (base64 undone), the error of an error reply,
        or a text/hex preview of an undecodable value; at most `width` characters."""
        env = self.envelope
        if env is not None:
            if env.kind is MessageKind.ERROR_REPLY:
                line = f"error: {env.error_message}"
            else:
                line = _compact_json(env.payload_json())
        elif self.size == 0:
            line = f"<{self.decode_error}>" if self.decode_error else "<empty>"
        else:
            text = self.text()
            line = text if text is not None else f"<{self.size} bytes> {self.raw[:32].hex(' ')}"
        line = printable(" ".join(line.split()))  # one line, no control characters
        return line if len(line) <= width else line[: max(0, width - 1)] + "…"

    def pretty(self) -> str:
        """The envelope as indented JSON, its payload shown as JSON (base64 undone); or, for an
        undecodable record, why it is not an envelope followed by its text or a hex dump."""
        env = self.envelope
        if env is not None:
            wire = env.as_wire_dict()
            wire["payload"] = env.payload_json()
            return json.dumps(wire, indent=2, ensure_ascii=False, default=str)
        lines = [f"undecodable: {self.decode_error}"]
        text = self.text()
        if text is not None:
            lines.append(printable(text, keep="\n\t"))
        else:
            lines.append(_hexdump(self.raw))
        if self.truncated:
            lines.append(f"… truncated: {len(self.raw):,} of {self.size:,} bytes shown")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict: Kafka metadata, kind, the wire envelope (or None) and the error."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
            "key": self.key,
            "kind": str(self.kind),
            "size": self.size,
            "envelope": self.envelope.as_wire_dict() if self.envelope is not None else None,
            "decode_error": self.decode_error,
        }


def printable(text: str, keep: str = "") -> str:
    """`text` with control characters (terminal escapes included) shown as U+FFFD, except
    those in `keep`: safe to print on a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else "\ufffd" for c in text)


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _hexdump(data: bytes, width: int = 16) -> str:
    rows = []
    for start in range(0, len(data), width):
        chunk = data[start : start + width]
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        rows.append(f"{start:08x}  {chunk.hex(' '):<{width * 3 - 1}}  {ascii_}")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# Filters and start positions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records to keep. Every given criterion must hold; an empty filter keeps all.

    - `root_id`: exact match on the envelope's root_id (the key, for undecodable records).
    - `text`: case-insensitive substring of the key, of the raw value (up to `RAW_LIMIT`
      bytes, as text), or of a base64 payload's decoded JSON.
    - `kind`: a MessageKind, or "undecodable".
    """

    root_id: str | None = None
    text: str | None = None
    kind: MessageKind | str | None = None

    def __post_init__(self) -> None:
        if self.kind is not None:
            allowed = {k.value for k in MessageKind} | {UNDECODABLE}
            if str(self.kind) not in allowed:
                raise ConfigError(
                    f"unknown kind {self.kind!r}: use one of {', '.join(sorted(allowed))}"
                )
        if self.text == "":
            object.__setattr__(self, "text", None)

    @property
    def empty(self) -> bool:
        """True when the filter keeps every record."""
        return self.root_id is None and self.text is None and self.kind is None

    def matches(self, record: BrowsedRecord) -> bool:
        """Whether `record` passes every criterion (pure: no I/O)."""
        if self.root_id is not None and record.root_id != self.root_id:
            return False
        if self.kind is not None and str(record.kind) != str(self.kind):
            return False
        if self.text is not None:
            needle = self.text.casefold()
            if not any(needle in hay.casefold() for hay in _haystacks(record)):
                return False
        return True


def _haystacks(record: BrowsedRecord) -> Iterable[str]:
    if record.key is not None:
        yield record.key
    yield record.raw.decode("utf-8", "replace")
    if record.payload_base64:
        assert record.envelope is not None
        yield _compact_json(record.envelope.payload_json())


@dataclass(frozen=True, slots=True)
class Offset:
    """Start at this offset on every selected partition (clamped to the log's range)."""

    offset: int

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise ConfigError(f"offset must be ≥ 0, got {self.offset}")


@dataclass(frozen=True, slots=True)
class Timestamp:
    """Start at the first record with a timestamp ≥ `ms` (Unix milliseconds)."""

    ms: int

    def __post_init__(self) -> None:
        if self.ms < 0:
            raise ConfigError(f"timestamp must be ≥ 0 ms, got {self.ms}")


@dataclass(frozen=True, slots=True)
class Beginning:
    """Start at the log start of every selected partition."""


@dataclass(frozen=True, slots=True)
class Tail:
    """The last `n` records of every selected partition (start at log end − n)."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ConfigError(f"tail count must be ≥ 0, got {self.n}")


StartAt = Offset | Timestamp | Beginning | Tail


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartitionScan:
    """What was read of one partition: offsets [start, end) of a log spanning
    [log_start, end). `scanned` counts the records read; `complete` is False when the deadline
    or the limit stopped the read before `end`."""

    topic: str
    partition: int
    log_start: int
    start: int
    end: int
    scanned: int
    complete: bool

    @property
    def truncated(self) -> bool:
        """True when older records of the log were left unread (start > log start)."""
        return self.start > self.log_start


class BrowseResult(list[BrowsedRecord]):
    """The records `browse()` returns (a list), plus what was scanned to find them.

    `scans` holds one `PartitionScan` per selected partition; `timed_out` is True when the
    deadline ended the read before every partition reached its end or the limit.
    """

    def __init__(
        self, records: Iterable[BrowsedRecord] = (), scans: Sequence[PartitionScan] = (),
        timed_out: bool = False,
    ) -> None:
        super().__init__(records)
        self.scans: tuple[PartitionScan, ...] = tuple(scans)
        self.timed_out = timed_out

    @property
    def scanned(self) -> int:
        """Records read from the cluster (before filtering)."""
        return sum(s.scanned for s in self.scans)


@dataclass(frozen=True)
class Conversation:
    """Every record of one conversation found by `follow_conversation()`, in created_at order.

    `scans` says which partition of which topic was read and how far back; `truncated` is
    True when some scan did not reach back to its log start (older records may exist).
    """

    root_id: str
    records: tuple[BrowsedRecord, ...]
    scans: tuple[PartitionScan, ...]
    per_partition_scan: int
    timed_out: bool = False

    @property
    def truncated(self) -> bool:
        return any(s.truncated for s in self.scans)

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics the conversation appears on, in order of first appearance."""
        return tuple(dict.fromkeys(r.topic for r in self.records))

    def describe_scan(self) -> str:
        """One line for the UI, e.g. "searched the last 5,000 records of the conversation's
        partition of 7 topics (2 had older records, not read)"."""
        if not self.scans:
            return "no topics searched"
        cut = [s for s in self.scans if s.truncated]
        where = f"the conversation's partition of {_plural(len(self.scans), 'topic')}"
        if cut:
            text = (f"searched the last {_plural(self.per_partition_scan, 'record')} of {where} "
                    f"({len(cut):,} had older records, not read)")
        else:
            text = f"searched every record of {where}"
        if self.timed_out:
            text += "; stopped at the deadline"
        return text


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass
class _Range:
    tp: TopicPartition
    log_start: int
    start: int
    stop: int
    scanned: int = 0
    done: bool = False
    kept: deque[BrowsedRecord] = field(default_factory=deque)


def _default_deadline(settings: ConnectionSettings) -> float:
    return max(10.0, 3 * settings.request_timeout_s)


def _consumer(settings: ConnectionSettings, **extra: Any) -> AIOKafkaConsumer:
    """A consumer with no group: it can only assign and seek; it never commits."""
    timeout_ms = int(settings.request_timeout_s * 1000)
    return AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # the log start moved under us: continue from it
        client_id="nexus-tui-browse",
        max_poll_records=_MAX_POLL_RECORDS,
        fetch_max_wait_ms=100,
        request_timeout_ms=max(timeout_ms, 1000),
        **extra,
        **settings.aiokafka_kwargs(),
    )


async def _start_consumer(consumer: AIOKafkaConsumer, settings: ConnectionSettings,
                          timeout: float) -> None:
    try:
        await asyncio.wait_for(consumer.start(), max(timeout, 0.1))
    except (TimeoutError, KafkaConnectionError, KafkaError) as exc:
        with contextlib.suppress(Exception):
            await stop_consumer(consumer)
        detail = f": {exc}" if str(exc) else ""
        raise ClusterUnreachable(
            f"cannot reach the cluster at {settings.bootstrap} to read records{detail}"
        ) from None


async def _read_ranges(
    settings: ConnectionSettings,
    ranges: list[_Range],
    *,
    keep: Callable[[ConsumerRecord[bytes, bytes]], BrowsedRecord | None],
    per_partition: int | None,
    keep_last: bool,
    deadline: float,
) -> bool:
    """Read every range [start, stop) with one group-less consumer, concurrently.

    Kept records go to each range's `kept` deque: the first `per_partition` (the range is then
    done) or, with `keep_last`, the last `per_partition`. Returns True if the deadline (a
    `time.monotonic()` value) stopped the read before every range was done.
    """
    todo = {r.tp: r for r in ranges if r.start < r.stop}
    for r in ranges:
        if r.start >= r.stop:
            r.done = True
        if keep_last and per_partition is not None:
            r.kept = deque(maxlen=per_partition)
    if not todo:
        return False
    consumer = _consumer(settings)
    await _start_consumer(consumer, settings, deadline - time.monotonic())
    fetched_any = False
    try:
        consumer.assign(list(todo))
        for tp, r in todo.items():
            consumer.seek(tp, r.start)
        while todo:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            batch = await consumer.getmany(
                *todo, timeout_ms=int(min(_POLL_MS, remaining * 1000)) or 1
            )
            for tp, records in batch.items():
                r = todo.get(tp)
                if r is None:
                    continue
                fetched_any = fetched_any or bool(records)
                for record in records:
                    if record.offset >= r.stop:
                        r.done = True
                        break
                    r.scanned += 1
                    kept = keep(record)
                    if kept is None:
                        continue
                    r.kept.append(kept)
                    if not keep_last and per_partition is not None and (
                        len(r.kept) >= per_partition
                    ):
                        r.done = True
                        break
            for tp, r in list(todo.items()):
                if r.done or await consumer.position(tp) >= r.stop:
                    r.done = True
                    consumer.pause(tp)
                    del todo[tp]
    finally:
        await stop_consumer(consumer)
    if todo and not fetched_any:
        raise ClusterUnreachable(
            f"no records could be fetched from {settings.bootstrap} before the deadline"
        )
    return bool(todo)


async def _offsets(
    admin: KafkaAdmin, tps: list[CTopicPartition], spec: Any
) -> dict[tuple[str, int], int]:
    return await admin.list_offsets(tps, spec)


async def _log_range(
    admin: KafkaAdmin, tps: list[CTopicPartition]
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """Log start and log end of these partitions (two batched ListOffsets rounds)."""
    starts, ends = await asyncio.gather(
        _offsets(admin, tps, OffsetSpec.earliest()), _offsets(admin, tps, OffsetSpec.latest())
    )
    return starts, ends


def _check_partitions(topic: str, count: int, partitions: Iterable[int] | None) -> list[int]:
    if partitions is None:
        return list(range(count))
    chosen = sorted(set(partitions))
    bad = [p for p in chosen if not 0 <= p < count]
    if bad:
        which = ", ".join(map(str, bad))
        raise NotFound(
            f"topic {topic} has no partition {which} (it has {count}: 0..{count - 1})"
        )
    if not chosen:
        raise ConfigError("no partition selected")
    return chosen


def _sort_key(record: BrowsedRecord) -> tuple[int, str, int, int]:
    return (record.timestamp_ms, record.topic, record.partition, record.offset)


async def browse(
    settings: ConnectionSettings | str,
    topic: str,
    *,
    partitions: Iterable[int] | None = None,
    start: StartAt | None = None,
    limit: int = 200,
    filter: RecordFilter | None = None,
    deadline_s: float | None = None,
) -> BrowseResult:
    """Read records of `topic` from `start` up to the log end as it was when the call began.

    `partitions` selects partitions (default all); `start` is `Offset(n)` (clamped to each
    log's range), `Timestamp(ms)`, `Beginning()` or `Tail(n)` (default `Tail(20)`). Records the
    `filter` rejects are skipped. At most `limit` records are returned, ordered by timestamp,
    then partition and offset: reading forward, each partition stops after `limit` matches and
    the earliest `limit` are kept; with `Tail`, the latest `limit` are kept. Never waits for
    new data; stops at `deadline_s` (default 3 × the request timeout, at least 10 s) and then
    returns what it has with `timed_out` set.

    Raises NotFound for an unknown topic or partition, ClusterUnreachable, NexusError.
    """
    settings = ConnectionSettings.of(settings)
    if start is None:
        start = Tail(20)
    if limit < 1:
        raise ConfigError(f"limit must be ≥ 1, got {limit}")
    deadline = time.monotonic() + (deadline_s or _default_deadline(settings))
    admin = KafkaAdmin(settings)
    count = await admin.partitions_of(topic)
    chosen = _check_partitions(topic, count, partitions)
    tps = [CTopicPartition(topic, p) for p in chosen]
    if isinstance(start, Timestamp):
        (starts, ends), at_time = await asyncio.gather(
            _log_range(admin, tps), _offsets(admin, tps, OffsetSpec.for_timestamp(start.ms))
        )
    else:
        starts, ends = await _log_range(admin, tps)
        at_time = {}
    ranges: list[_Range] = []
    for p in chosen:
        log_start, log_end = starts[(topic, p)], ends[(topic, p)]
        if isinstance(start, Offset):
            first = min(max(start.offset, log_start), log_end)
        elif isinstance(start, Timestamp):
            found = at_time.get((topic, p), -1)
            first = log_end if found < 0 else min(max(found, log_start), log_end)
        elif isinstance(start, Tail):
            first = max(log_start, log_end - start.n)
        else:
            first = log_start
        ranges.append(_Range(TopicPartition(topic, p), log_start, first, log_end))

    def keep(record: ConsumerRecord[bytes, bytes]) -> BrowsedRecord | None:
        built = BrowsedRecord.from_consumer_record(record)
        return built if filter is None or filter.matches(built) else None

    keep_last = isinstance(start, Tail)
    timed_out = await _read_ranges(
        settings, ranges, keep=keep, per_partition=limit, keep_last=keep_last, deadline=deadline
    )
    merged = sorted((rec for r in ranges for rec in r.kept), key=_sort_key)
    merged = merged[-limit:] if keep_last else merged[:limit]
    scans = [
        PartitionScan(topic, r.tp.partition, r.log_start, r.start, r.stop, r.scanned, r.done)
        for r in ranges
    ]
    return BrowseResult(merged, scans, timed_out)


# ---------------------------------------------------------------------------------------------
# Conversations
# ---------------------------------------------------------------------------------------------


def _conversation_key(record: BrowsedRecord) -> tuple[int, int, str, int, int]:
    return (record.created_at_ns, record.timestamp_ms, record.topic, record.partition,
            record.offset)


async def follow_conversation(
    settings: ConnectionSettings | str,
    root_id: str,
    topics: Iterable[str] | None = None,
    per_partition_scan: int = 5000,
    *,
    deadline_s: float | None = None,
) -> Conversation:
    """Every record keyed by `root_id` in `topics` (default: every non-internal topic,
    dead-letter topics included), merged in envelope created_at order (then timestamp).

    A conversation is keyed by its root_id, so in a topic of n partitions it can only be on
    `partition_for_key(root_id, n)`: only that partition is read, and only its last
    `per_partition_scan` records. `Conversation.scans` tells what was read.

    Raises NotFound when a given topic does not exist, ClusterUnreachable, NexusError.
    """
    settings = ConnectionSettings.of(settings)
    if not root_id:
        raise ConfigError("a root id is required")
    if per_partition_scan < 1:
        raise ConfigError(f"per-partition scan must be ≥ 1, got {per_partition_scan}")
    deadline = time.monotonic() + (deadline_s or _default_deadline(settings))
    admin = KafkaAdmin(settings)
    wanted = None if topics is None else sorted(set(topics))
    snap = await admin.snapshot(
        topic_filter=None if wanted is None else "^(?:" + "|".join(map(re.escape, wanted)) + ")$",
        include_internal=wanted is not None, groups=False, configs=False,
    )
    if wanted is not None:
        missing = [t for t in wanted if t not in snap.topics]
        if missing:
            raise NotFound(f"topic {', '.join(missing)} does not exist")
    key = Envelope(root_id=root_id).key
    ranges: list[_Range] = []
    for name, info in snap.topics.items():
        if not info.partitions:
            continue
        p = partition_for_key(key, len(info.partitions))
        part = next(x for x in info.partitions if x.partition == p)
        if part.log_start is None or part.log_end is None:
            problem = next((e for e in snap.errors if f"{name}[{p}]" in e), "offsets unknown")
            raise NexusError(f"cannot read {name}[{p}]: {problem}")
        first = max(part.log_start, part.log_end - per_partition_scan)
        ranges.append(_Range(TopicPartition(name, p), part.log_start, first, part.log_end))

    def keep(record: ConsumerRecord[bytes, bytes]) -> BrowsedRecord | None:
        if record.key != key:
            return None
        return BrowsedRecord.from_consumer_record(record)

    timed_out = await _read_ranges(
        settings, ranges, keep=keep, per_partition=None, keep_last=False, deadline=deadline
    )
    records = sorted((rec for r in ranges for rec in r.kept), key=_conversation_key)
    scans = tuple(
        PartitionScan(r.tp.topic, r.tp.partition, r.log_start, r.start, r.stop, r.scanned,
                      r.done)
        for r in sorted(ranges, key=lambda r: r.tp.topic)
    )
    return Conversation(root_id, tuple(records), scans, per_partition_scan, timed_out)


# ---------------------------------------------------------------------------------------------
# Live tail
# ---------------------------------------------------------------------------------------------


class LiveTail:
    """Follows new records of a topic from its end (for the Messages screen's live view).

    `records` is a deque of the latest `maxlen` matching records (oldest first); `version`
    grows with every batch so a UI can redraw only on change; `received` counts every match.
    It is also an async iterator of the records that arrive after iteration began (a bounded
    buffer: when the reader falls behind by more than `maxlen`, the oldest are dropped and
    counted in `dropped`). Reads with no consumer group and never commits. Partitions added
    to the topic after start() are not followed.
    """

    def __init__(
        self,
        settings: ConnectionSettings | str,
        topic: str,
        *,
        partitions: Iterable[int] | None = None,
        backlog: int = 0,
        filter: RecordFilter | None = None,
        maxlen: int = 1000,
    ) -> None:
        if maxlen < 1:
            raise ConfigError(f"maxlen must be ≥ 1, got {maxlen}")
        if backlog < 0:
            raise ConfigError(f"backlog must be ≥ 0, got {backlog}")
        self.settings = ConnectionSettings.of(settings)
        self.topic = topic
        self.partitions = None if partitions is None else list(partitions)
        self.backlog = backlog
        self.filter = filter
        self.maxlen = maxlen
        self.records: deque[BrowsedRecord] = deque(maxlen=maxlen)
        self.version = 0
        self.received = 0
        self.dropped = 0
        self.error: NexusError | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._queue: deque[BrowsedRecord] | None = None
        self._queued = asyncio.Event()
        self._stopped = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> LiveTail:
        """Resolve the start positions (log end − backlog), then follow in the background.

        Once this returns, every record produced afterwards will be seen.
        """
        if self._consumer is not None:
            return self
        admin = KafkaAdmin(self.settings)
        count = await admin.partitions_of(self.topic)
        chosen = _check_partitions(self.topic, count, self.partitions)
        tps = [CTopicPartition(self.topic, p) for p in chosen]
        starts, ends = await _log_range(admin, tps)
        consumer = _consumer(self.settings)
        await _start_consumer(consumer, self.settings, self.settings.request_timeout_s)
        try:
            assigned = [TopicPartition(self.topic, p) for p in chosen]
            consumer.assign(assigned)
            for tp in assigned:
                key = (tp.topic, tp.partition)
                consumer.seek(tp, max(starts[key], ends[key] - self.backlog))
        except BaseException:
            await stop_consumer(consumer)
            raise
        self._consumer = consumer
        self._stopped = False
        self._task = asyncio.create_task(self._run(), name=f"tail:{self.topic}")
        return self

    async def stop(self) -> None:
        """Stop following and close the consumer (idempotent)."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._consumer is not None:
            await stop_consumer(self._consumer)
            self._consumer = None
        self._changed.set()
        self._queued.set()

    async def __aenter__(self) -> LiveTail:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def snapshot(self) -> list[BrowsedRecord]:
        """The latest records, oldest first (a copy)."""
        return list(self.records)

    async def wait_changed(self, timeout: float | None = None) -> bool:
        """Wait until new records arrive (or the tail stops); False on timeout."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    async def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                fresh: list[BrowsedRecord] = []
                for records in batch.values():
                    for record in records:
                        built = BrowsedRecord.from_consumer_record(record)
                        if self.filter is None or self.filter.matches(built):
                            fresh.append(built)
                if not fresh:
                    continue
                fresh.sort(key=_sort_key)
                self.records.extend(fresh)
                self.received += len(fresh)
                if self._queue is not None:
                    overflow = len(self._queue) + len(fresh) - self.maxlen
                    if overflow > 0:
                        self.dropped += overflow
                    self._queue.extend(fresh)  # a deque with maxlen drops the oldest
                    self._queued.set()
                self.version += 1
                self._changed.set()
        except asyncio.CancelledError:
            raise
        except NexusError as exc:
            self.error = exc
        except Exception as exc:  # the broker went away etc.: keep the message, stop
            self.error = NexusError(f"live tail of {self.topic} stopped: {exc or type(exc)}")
        finally:
            self._changed.set()
            self._queued.set()

    def __aiter__(self) -> AsyncIterator[BrowsedRecord]:
        if self._queue is None:
            self._queue = deque(maxlen=self.maxlen)
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BrowsedRecord]:
        queue = self._queue
        assert queue is not None
        while True:
            while queue:
                yield queue.popleft()
            if self.error is not None:
                raise self.error
            if self._stopped or (self._task is not None and self._task.done()):
                return
            await self._queued.wait()
            self._queued.clear()


async def tail(
    settings: ConnectionSettings | str,
    topic: str,
    *,
    partitions: Iterable[int] | None = None,
    backlog: int = 0,
    filter: RecordFilter | None = None,
    maxlen: int = 1000,
) -> LiveTail:
    """Start following `topic` from its end (minus `backlog` records per partition).

    Returns a started `LiveTail`: read `.records` (bounded) or `async for record in tail`;
    call `await tail.stop()` (or use `async with`) when done.
    """
    return await LiveTail(
        settings, topic, partitions=partitions, backlog=backlog, filter=filter, maxlen=maxlen
    ).start()

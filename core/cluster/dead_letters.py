"""Dead-letter topics: read them, filter them, summarize them.

`KafkaSubscriber` sends what fails after its retries (and what it cannot decode) to
`<topic>.dlq` with the headers of `DLQ_HEADERS`: the error, the attempts, the original topic,
partition and offset, and when it failed. This module reads such a topic back as
`DeadLetter`s, selects them (`DeadLetterFilter`: time, error, text) and summarizes them for
`nexus-tui dlq list` (counts by original topic and by error, the error text with ids and
numbers masked so that one failure mode is one line).

Reads use one confluent-kafka consumer assigned to every partition (no group, nothing
committed): bounded by the end offsets read when the scan starts.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from core.cluster.admin import NotFound, kafka_error_text
from core.config.settings import ConnectionSettings
from core.errors import ConfigError, NexusError
from core.messaging.subscriber import DLQ_HEADERS
from core.wire.envelope import Envelope, EnvelopeError
from core.wire.topic_names import is_dead_letter_topic

ERROR_HEADER, ATTEMPTS_HEADER, TOPIC_HEADER, PARTITION_HEADER, OFFSET_HEADER, FAILED_AT_HEADER = (
    DLQ_HEADERS
)

#: Headers a redriven copy carries: where it came from and when it was put back.
REDRIVE_HEADERS = (
    "nexus-redrive-dlq-topic", "nexus-redrive-dlq-partition", "nexus-redrive-dlq-offset",
    "nexus-redrive-at",
)

_UUID = re.compile(r"\b[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b")
_HEX = re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"'[^']{0,200}'|\"[^\"]{0,200}\"")


def mask_error(text: str) -> str:
    """The error text with ids, quoted values and numbers masked: one line per failure mode
    (`user 42 not found` and `user 43 not found` are both `user <n> not found`)."""
    text = _UUID.sub("<id>", text)
    text = _QUOTED.sub("<value>", text)
    text = _HEX.sub("<id>", text)
    return _NUMBER.sub("<n>", text).strip()


def _int_or_none(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, with our headers read out."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def ours(self) -> bool:
        """True when the record carries the subscriber's dead-letter headers."""
        return self.header(TOPIC_HEADER) is not None

    @property
    def error(self) -> str | None:
        raw = self.header(ERROR_HEADER)
        return raw.decode("utf-8", "replace") if raw is not None else None

    @property
    def attempts(self) -> int | None:
        return _int_or_none(self.header(ATTEMPTS_HEADER))

    @property
    def original_topic(self) -> str | None:
        raw = self.header(TOPIC_HEADER)
        return raw.decode("utf-8", "replace") if raw is not None else None

    @property
    def original_partition(self) -> int | None:
        return _int_or_none(self.header(PARTITION_HEADER))

    @property
    def original_offset(self) -> int | None:
        return _int_or_none(self.header(OFFSET_HEADER))

    @property
    def failed_at(self) -> str | None:
        raw = self.header(FAILED_AT_HEADER)
        return raw.decode("utf-8", "replace") if raw is not None else None

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def envelope(self) -> Envelope | None:
        """The Nexus envelope, or None when the value is not one (undecodable dead letters
        are kept as they are: they are redriven as raw bytes)."""
        try:
            envelope = Envelope.decode(self.value)
        except EnvelopeError:
            return None
        return envelope if envelope.id else None  # any JSON object decodes; ours have an id

    def text(self) -> str:
        """The value as text (invalid UTF-8 replaced): what --grep searches, with the key."""
        return self.value.decode("utf-8", "replace")

    def as_json(self) -> dict[str, Any]:
        envelope = self.envelope()
        out: dict[str, Any] = {
            "topic": self.topic, "partition": self.partition, "offset": self.offset,
            "time": self.time.isoformat(timespec="milliseconds"),
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,
            "error": self.error, "attempts": self.attempts,
            "original_topic": self.original_topic,
            "original_partition": self.original_partition,
            "original_offset": self.original_offset, "failed_at": self.failed_at,
            "decoded": envelope is not None,
        }
        if envelope is not None:
            out["envelope"] = {
                "id": envelope.id, "root_id": envelope.root_id,
                "request_id": envelope.request_id or None, "kind": str(envelope.kind),
                "source_topic": envelope.source_topic,
                "destination_topic": envelope.destination_topic,
                "reply_to_topics": list(envelope.reply_to_topics or ()),
                "created_at": envelope.created_at, "payload": envelope.payload_json(),
            }
        else:
            out["value"] = self.text()
        other = [(k, v.decode("utf-8", "replace")) for k, v in self.headers
                 if k not in DLQ_HEADERS]
        if other:
            out["headers"] = dict(other)
        return out


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters a command works on: record time in [since, until), the error header
    matching `error`, the key or value matching `grep` (regexes, searched)."""

    since_ms: int | None = None
    until_ms: int | None = None
    error: str | None = None
    grep: str | None = None
    _error_re: re.Pattern[str] | None = field(init=False, default=None, repr=False)
    _grep_re: re.Pattern[str] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_error_re", _compile(self.error, "--error"))
        object.__setattr__(self, "_grep_re", _compile(self.grep, "--grep"))
        if self.since_ms is not None and self.until_ms is not None and (
                self.until_ms <= self.since_ms):
            raise ConfigError("--until must be later than --since")

    @property
    def empty(self) -> bool:
        return (self.since_ms, self.until_ms, self.error, self.grep) == (None,) * 4

    def matches(self, letter: DeadLetter) -> bool:
        if self.since_ms is not None and letter.timestamp_ms < self.since_ms:
            return False
        if self.until_ms is not None and letter.timestamp_ms >= self.until_ms:
            return False
        if self._error_re is not None and not self._error_re.search(letter.error or ""):
            return False
        if self._grep_re is not None:
            key = letter.key.decode("utf-8", "replace") if letter.key is not None else ""
            if not (self._grep_re.search(letter.text()) or self._grep_re.search(key)):
                return False
        return True


def _compile(pattern: str | None, what: str) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{what} is not a valid regular expression: {exc}") from None


def dead_letter_from(msg: Any) -> DeadLetter:
    """A DeadLetter from a confluent-kafka Message."""
    _, timestamp = msg.timestamp()
    return DeadLetter(msg.topic(), msg.partition(), msg.offset(), timestamp, msg.key(),
                      msg.value() or b"", tuple(msg.headers() or ()))


def reader(settings: ConnectionSettings, **extra: Any) -> Consumer:
    """A consumer for scans: nothing committed, records read as stored."""
    conf = settings.confluent_config(**{
        "group.id": "nexus-tui.scan", "enable.auto.commit": False,
        "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
        "enable.partition.eof": False, "log_level": 3, **extra,
    })
    try:
        return Consumer(conf)
    except KafkaException as exc:
        raise ConfigError(f"bad client settings: {kafka_error_text(exc)}") from None


def partitions_of(consumer: Consumer, topic: str, timeout_s: float) -> list[int]:
    """The topic's partitions; NotFound when it does not exist."""
    try:
        md = consumer.list_topics(topic, timeout=timeout_s)
    except KafkaException as exc:
        raise NexusError(f"cannot read metadata of {topic}: {kafka_error_text(exc)}") from None
    found = md.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise NotFound(f"topic {topic} does not exist")
    return sorted(found.partitions)


def watermarks(consumer: Consumer, topic: str, partitions: Iterable[int],
               timeout_s: float) -> dict[int, tuple[int, int]]:
    """partition -> (log start, log end)."""
    out = {}
    for p in partitions:
        try:
            out[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout_s)
        except KafkaException as exc:
            raise NexusError(f"cannot read offsets of {topic}[{p}]: "
                             f"{kafka_error_text(exc)}") from None
    return out


def scan(consumer: Consumer, topic: str, ranges: dict[int, tuple[int, int]],
         timeout_s: float, batch: int = 2000) -> Iterator[list[Any]]:
    """Every record of `topic` in each partition's [start, end), as batches of confluent
    Messages in offset order per partition. Stops when every partition reached its end;
    raises when no record arrives for `timeout_s` while some are still due."""
    todo = {p: (start, end) for p, (start, end) in ranges.items() if end > start}
    if not todo:
        return
    consumer.assign([TopicPartition(topic, p, start if start >= 0 else OFFSET_BEGINNING)
                     for p, (start, _) in todo.items()])
    try:
        quiet_since = time.monotonic()
        while todo:
            msgs = consumer.consume(batch, 0.5)
            out = []
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.fatal() or not err.retriable():
                        raise NexusError(f"reading {topic} failed: {err.str()}")
                    continue
                p = msg.partition()
                span = todo.get(p)
                if span is None or msg.offset() >= span[1]:
                    continue
                out.append(msg)
                if msg.offset() + 1 >= span[1]:
                    del todo[p]
            if out:
                quiet_since = time.monotonic()
                yield out
                continue
            # offsets that hold no record (transaction markers, compacted away) end a
            # partition too: its fetch position has reached the end
            for tp in consumer.position([TopicPartition(topic, p) for p in todo]):
                if tp.offset >= todo[tp.partition][1]:
                    del todo[tp.partition]
            if todo and time.monotonic() - quiet_since > timeout_s:
                # the log start may have moved past our start (retention, DeleteRecords):
                # re-read the marks once before giving up
                marks = watermarks(consumer, topic, todo, timeout_s)
                if all(marks[p][1] <= todo[p][0] or marks[p][0] >= todo[p][1] for p in todo):
                    return
                waiting = ", ".join(f"{p}@{s}..{e}" for p, (s, e) in sorted(todo.items()))
                raise NexusError(f"reading {topic} stalled (partitions {waiting})")
    finally:
        consumer.unassign()


def read_dead_letters(settings: ConnectionSettings, topic: str,
                      starts: dict[int, int] | None = None) -> Iterator[DeadLetter]:
    """Every dead letter of `topic` from `starts` (default: the log start) to the end offsets
    read now, partition by partition in offset order (partitions interleaved)."""
    consumer = reader(settings)
    try:
        timeout = settings.request_timeout_s
        marks = watermarks(consumer, topic, partitions_of(consumer, topic, timeout), timeout)
        ranges = {p: (max(low, (starts or {}).get(p, low)), high)
                  for p, (low, high) in marks.items()}
        for batch in scan(consumer, topic, ranges, timeout):
            for msg in batch:
                yield dead_letter_from(msg)
    finally:
        consumer.close()


@dataclass
class DeadLetterSummary:
    """What `dlq list` shows for one dead-letter topic."""

    topic: str
    records: int = 0
    oldest_ms: int | None = None
    newest_ms: int | None = None
    by_original_topic: Counter[str] = field(default_factory=Counter)
    by_error: Counter[str] = field(default_factory=Counter)
    not_ours: int = 0
    redriven: int = 0

    def add(self, letter: DeadLetter) -> None:
        self.records += 1
        ts = letter.timestamp_ms
        self.oldest_ms = ts if self.oldest_ms is None else min(self.oldest_ms, ts)
        self.newest_ms = ts if self.newest_ms is None else max(self.newest_ms, ts)
        if not letter.ours:
            self.not_ours += 1
        self.by_original_topic[letter.original_topic or "(unknown)"] += 1
        self.by_error[mask_error(letter.error) if letter.error else "(no error header)"] += 1

    def as_json(self) -> dict[str, Any]:
        def iso(ms: int | None) -> str | None:
            return (datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
                    if ms is not None else None)

        return {
            "topic": self.topic, "records": self.records, "oldest": iso(self.oldest_ms),
            "newest": iso(self.newest_ms), "redriven": self.redriven,
            "not_ours": self.not_ours,
            "by_original_topic": dict(self.by_original_topic.most_common()),
            "by_error": dict(self.by_error.most_common()),
        }


def dead_letter_topics(names: Iterable[str]) -> list[str]:
    """The dead-letter topics among `names` (`<topic>.dlq`)."""
    return sorted(n for n in names if is_dead_letter_topic(n))


def summarize(settings: ConnectionSettings, topic: str) -> DeadLetterSummary:
    summary = DeadLetterSummary(topic)
    for letter in read_dead_letters(settings, topic):
        summary.add(letter)
    return summary

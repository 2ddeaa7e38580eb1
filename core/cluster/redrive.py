"""Redrive a dead-letter topic: put its records back where they came from, exactly once.

What the services see is what counts: every selected dead letter reaches its target topic
once, across interruptions (Ctrl+C, SIGKILL, a broker failover) and re-runs.

- **Bytes and key as they were.** The copy has the dead letter's value and key (the root id,
  so the Java-murmur2 partition and the conversation's order hold) and its headers, without
  our dead-letter headers and with `REDRIVE_HEADERS` naming the dead letter (topic, partition,
  offset) and the time of the redrive. An undecodable dead letter goes back as raw bytes.
- **Progress** is committed in the consumer group `nexus-tui.redrive.<dlq topic>`: per
  dead-letter partition, the first offset not yet put back, only after the broker acknowledged
  every copy below it (idempotent producer, acks=all). A record left out by the filters or the
  limit stops its partition's position there, so a later run with other filters still sees it.
- **No repeats after a kill between ack and commit.** The commit's metadata also holds, per
  target partition, the offset from which copies of this run (and of any unfinished run before
  it) can be found (`scan_from`): it is written before the first copy is produced. A run starts
  by reading the targets from there and skips every dead letter whose copy it finds. A run that
  handled everything moves `scan_from` to the targets' end, so the next scan is short.
- A Kafka transaction alone would not do: Nexus services (Java, franz-go) read uncommitted by
  default and would see the copies of an aborted transaction.

One redrive of a dead-letter topic at a time: two at once would not see each other's copies.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from core.cluster.admin import NotFound, kafka_error_text
from core.cluster.dead_letters import (
    REDRIVE_HEADERS,
    DeadLetter,
    DeadLetterFilter,
    dead_letter_from,
    mask_error,
    partitions_of,
    reader,
    scan,
    watermarks,
)
from core.config.settings import ConnectionSettings
from core.errors import ConfigError, NexusError
from core.messaging.subscriber import DLQ_HEADERS
from core.wire.topic_names import validate_kafka_topic

REDRIVE_TOPIC, REDRIVE_PARTITION, REDRIVE_OFFSET, REDRIVE_AT = REDRIVE_HEADERS
CHECKPOINT_VERSION = 1
#: Kafka's default offset.metadata.max.bytes is 4096: stay below it per partition.
METADATA_CHUNK = 3500
SAMPLE_SIZE = 5


class RedriveError(NexusError):
    """A redrive that cannot start or cannot go on (nothing more is written)."""


def progress_group(dlq_topic: str) -> str:
    """The consumer group that holds a dead-letter topic's redrive progress."""
    return f"nexus-tui.redrive.{dlq_topic}"


# ---- the checkpoint in the commit metadata -----------------------------------------------------

ScanFrom = dict[str, dict[int, int]]  # target topic -> partition -> offset


def encode_checkpoint(scan_from: ScanFrom, partitions: list[int]) -> dict[int, str]:
    """`scan_from` as commit metadata, spread over the dead-letter partitions in order."""
    doc = {"v": CHECKPOINT_VERSION,
           "scan_from": {t: {str(p): o for p, o in sorted(ps.items())}
                         for t, ps in sorted(scan_from.items())}}
    packed = "z:" + base64.b64encode(zlib.compress(json.dumps(doc).encode())).decode()
    chunks = [packed[i:i + METADATA_CHUNK] for i in range(0, len(packed), METADATA_CHUNK)]
    if len(chunks) > len(partitions):
        raise RedriveError(
            f"too many target partitions to checkpoint in {len(partitions)} dead-letter "
            "partition(s): redrive fewer target topics at once (--to)")
    return {p: (chunks[i] if i < len(chunks) else "") for i, p in enumerate(partitions)}


def decode_checkpoint(metadata: dict[int, str]) -> ScanFrom | None:
    """The `scan_from` of a checkpoint, or None when there is none (never redriven)."""
    packed = "".join(metadata[p] or "" for p in sorted(metadata))
    if not packed:
        return None
    try:
        if not packed.startswith("z:"):
            raise ValueError("unknown format")
        doc = json.loads(zlib.decompress(base64.b64decode(packed[2:])))
        if doc.get("v") != CHECKPOINT_VERSION:
            raise ValueError(f"version {doc.get('v')}")
        return {t: {int(p): int(o) for p, o in ps.items()}
                for t, ps in doc["scan_from"].items()}
    except (ValueError, KeyError, TypeError, zlib.error) as exc:
        raise RedriveError(f"the redrive checkpoint cannot be read ({exc}): reset the group's "
                           "offsets only if you know what was redriven") from None


# ---- plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedriveRequest:
    dlq_topic: str
    to: str | None = None
    filter: DeadLetterFilter = field(default_factory=DeadLetterFilter)
    limit: int | None = None
    rate: float | None = None  # records per second; None: as fast as the broker takes them

    def __post_init__(self) -> None:
        validate_kafka_topic(self.dlq_topic)
        if self.to is not None:
            validate_kafka_topic(self.to)
            if self.to == self.dlq_topic:
                raise ConfigError("--to is the dead-letter topic itself")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("--limit must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise ConfigError("--rate must be above 0")

    def target_of(self, letter: DeadLetter) -> str | None:
        return self.to or letter.original_topic

    def audit_args(self) -> dict[str, Any]:
        f = self.filter
        return {"dlq_topic": self.dlq_topic, "to": self.to, "since_ms": f.since_ms,
                "until_ms": f.until_ms, "error": f.error, "grep": f.grep, "limit": self.limit,
                "rate": self.rate}


@dataclass
class RedrivePlan:
    """What a redrive would do (the dry run), and what it needs to do it."""

    request: RedriveRequest
    group: str
    marks: dict[int, tuple[int, int]]  # dead-letter partition -> (log start, log end)
    starts: dict[int, int]  # where this run reads from: the committed progress
    scan_from: ScanFrom | None
    selected: int = 0
    already: int = 0  # selected, but a copy is already in its target
    not_selected: int = 0
    by_target: Counter[str] = field(default_factory=Counter)
    by_error: Counter[str] = field(default_factory=Counter)
    sample: list[tuple[DeadLetter, str]] = field(default_factory=list)
    without_target: int = 0
    copies: set[tuple[int, int]] = field(default_factory=set)  # (partition, offset) put back

    @property
    def to_send(self) -> int:
        return self.selected - self.already

    def consider(self, letter: DeadLetter) -> None:
        """Count one dead letter still due (read in offset order): selected or not by the
        request's filter and limit, already put back, or due to go to its target."""
        limit = self.request.limit
        if not self.request.filter.matches(letter) or (
                limit is not None and self.selected >= limit):
            self.not_selected += 1
            return
        self.selected += 1
        if (letter.partition, letter.offset) in self.copies:
            self.already += 1
            return
        target = self.request.target_of(letter)
        if target is None:
            self.without_target += 1
            return
        self.by_target[target] += 1
        self.by_error[mask_error(letter.error) if letter.error else "(no error)"] += 1
        if len(self.sample) < SAMPLE_SIZE:
            self.sample.append((letter, target))

    @property
    def redriven_before(self) -> int:
        """Dead letters already put back: the committed prefix plus copies found beyond it."""
        prefix = sum(max(0, self.starts[p] - low) for p, (low, _) in self.marks.items())
        return prefix + len(self.copies)

    def audit_before(self) -> dict[str, Any]:
        return {"positions": {str(p): o for p, o in sorted(self.starts.items())},
                "to_send": self.to_send, "by_target": dict(self.by_target)}

    def as_json(self) -> dict[str, Any]:
        return {
            "dlq_topic": self.request.dlq_topic, "group": self.group,
            "selected": self.selected, "already_redriven": self.already,
            "to_send": self.to_send, "not_selected": self.not_selected,
            "by_target": dict(self.by_target.most_common()),
            "by_error": dict(self.by_error.most_common()),
            "positions": {str(p): self.starts[p] for p in sorted(self.starts)},
            "log_end": {str(p): high for p, (_, high) in sorted(self.marks.items())},
            "sample": [{"partition": d.partition, "offset": d.offset, "target": t,
                        "key": d.key.decode("utf-8", "replace") if d.key is not None else None,
                        "error": d.error} for d, t in self.sample],
        }


# ---- the redrive ----------------------------------------------------------------------------


@dataclass
class RedriveResult:
    plan: RedrivePlan
    sent: Counter[str] = field(default_factory=Counter)
    skipped_already: int = 0
    positions: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    interrupted: bool = False

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "dlq_topic": self.plan.request.dlq_topic, "group": self.plan.group,
            "redriven": self.total_sent, "by_target": dict(self.sent.most_common()),
            "skipped_already_redriven": self.skipped_already,
            "not_selected": self.plan.not_selected,
            "positions": {str(p): o for p, o in sorted(self.positions.items())},
            "elapsed_s": round(self.elapsed_s, 3),
            "records_per_s": round(self.total_sent / self.elapsed_s, 1) if self.elapsed_s else None,
            "interrupted": self.interrupted,
        }


Progress = Callable[[int, int], None]  # (records handled, records to handle)


def run_audited(redrive: Redrive, plan: RedrivePlan,
                progress: Progress | None = None) -> RedriveResult:
    """`redrive.run(plan)` between its audit intent and result lines (the TUI's path; the
    CLI audits its plan as well)."""
    from core.cluster.audit import audited

    with audited(redrive.settings, "dlq.redrive", redrive.request.audit_args(),
                 before=plan.audit_before()) as record:
        redrive.settings.check_writable("dlq redrive")
        result = redrive.run(plan, progress)
        record.after = {"positions": {str(p): o for p, o in sorted(result.positions.items())}}
        record.result = result.as_json()
    return result


class Redrive:
    """Plan (`plan()`) and run (`run(plan)`) the redrive of one dead-letter topic."""

    def __init__(self, settings: ConnectionSettings, request: RedriveRequest, *,
                 commit_interval_s: float = 1.0) -> None:
        self.settings = settings
        self.request = request
        self.group = progress_group(request.dlq_topic)
        self.commit_interval_s = commit_interval_s
        self.timeout_s = settings.request_timeout_s

    # -- reading ------------------------------------------------------------------------------

    def _consumer(self) -> Consumer:
        return reader(self.settings, **{"group.id": self.group})

    def _committed(self, consumer: Consumer, partitions: list[int]
                   ) -> tuple[dict[int, int], dict[int, str]]:
        tps = [TopicPartition(self.request.dlq_topic, p) for p in partitions]
        try:
            found = consumer.committed(tps, timeout=self.timeout_s)
        except KafkaException as exc:
            raise RedriveError(f"cannot read the progress of {self.group}: "
                               f"{kafka_error_text(exc)}") from None
        offsets = {tp.partition: tp.offset for tp in found if tp.offset >= 0}
        metadata = {tp.partition: (tp.metadata or "") for tp in found}
        return offsets, metadata

    def _letters(self, consumer: Consumer, plan: RedrivePlan) -> Iterator[DeadLetter]:
        ranges = {p: (plan.starts[p], high) for p, (_, high) in plan.marks.items()}
        for batch in scan(consumer, self.request.dlq_topic, ranges, self.timeout_s):
            for msg in batch:
                yield dead_letter_from(msg)

    def _copies(self, consumer: Consumer, scan_from: ScanFrom, starts: dict[int, int]
                ) -> set[tuple[int, int]]:
        """(partition, offset) of the dead letters at or past `starts` whose copy is in a
        target since `scan_from`: put back by a run that did not get to commit them."""
        found: set[tuple[int, int]] = set()
        dlq = self.request.dlq_topic.encode()
        for topic, froms in scan_from.items():
            try:
                marks = watermarks(consumer, topic, froms, self.timeout_s)
            except NexusError:
                continue  # a target deleted since: no copy of ours can be there
            ranges = {p: (max(o, marks[p][0]), marks[p][1]) for p, o in froms.items()}
            for batch in scan(consumer, topic, ranges, self.timeout_s):
                for msg in batch:
                    headers = dict(msg.headers() or ())
                    if headers.get(REDRIVE_TOPIC) != dlq:
                        continue
                    try:
                        key = (int(headers[REDRIVE_PARTITION]), int(headers[REDRIVE_OFFSET]))
                    except (KeyError, ValueError):
                        continue
                    if key[1] >= starts.get(key[0], 0):
                        found.add(key)
        return found

    def _progress(self, consumer: Consumer) -> RedrivePlan:
        dlq = self.request.dlq_topic
        partitions = partitions_of(consumer, dlq, self.timeout_s)
        marks = watermarks(consumer, dlq, partitions, self.timeout_s)
        committed, metadata = self._committed(consumer, partitions)
        starts = {p: min(max(committed.get(p, low), low), high)
                  for p, (low, high) in marks.items()}
        scan_from = decode_checkpoint(metadata)
        plan = RedrivePlan(self.request, self.group, marks, starts, scan_from)
        if scan_from:
            plan.copies = self._copies(consumer, scan_from, starts)
        return plan

    def progress(self) -> RedrivePlan:
        """Where earlier redrives got to (positions, copies beyond them), without reading the
        dead letters: `redriven_before` of the result is what `dlq list` shows."""
        consumer = self._consumer()
        try:
            return self._progress(consumer)
        finally:
            consumer.close()

    def plan(self) -> RedrivePlan:
        """Read the progress, the copies already made, and every dead letter still due:
        counts per target and per error, a sample, and the checks that must pass before
        anything is written (targets known and existing)."""
        consumer = self._consumer()
        try:
            plan = self._progress(consumer)
            for letter in self._letters(consumer, plan):
                plan.consider(letter)
            self._check_targets(consumer, plan)
            return plan
        finally:
            consumer.close()

    def _check_targets(self, consumer: Consumer, plan: RedrivePlan) -> None:
        if plan.without_target:
            raise RedriveError(
                f"{plan.without_target} dead letter(s) of {self.request.dlq_topic} carry no "
                "original-topic header (not written by a nexus subscriber): give --to TOPIC")
        for target in plan.by_target:
            if target == self.request.dlq_topic:
                raise RedriveError(f"the target of some dead letters is {target} itself")
            try:
                partitions_of(consumer, target, self.timeout_s)
            except NotFound:
                raise RedriveError(f"target topic {target} does not exist "
                                   f"({plan.by_target[target]} dead letter(s) go there); "
                                   "create it or give --to") from None

    # -- writing ------------------------------------------------------------------------------

    def _producer(self) -> Producer:
        conf = self.settings.confluent_config(**{
            "enable.idempotence": True, "acks": "all", "partitioner": "murmur2_random",
            "compression.type": "lz4", "linger.ms": 5, "log_level": 3,
            "message.timeout.ms": max(30_000, int(self.timeout_s * 3000)),
        })
        try:
            return Producer(conf)
        except KafkaException as exc:
            raise ConfigError(f"bad client settings: {kafka_error_text(exc)}") from None

    def _commit(self, consumer: Consumer, positions: dict[int, int], scan_from: ScanFrom,
                partitions: list[int]) -> None:
        metadata = encode_checkpoint(scan_from, partitions)
        tps = [TopicPartition(self.request.dlq_topic, p, positions[p], metadata=metadata[p])
               for p in partitions]
        deadline = time.monotonic() + max(30.0, 3 * self.timeout_s)
        while True:
            try:
                consumer.commit(offsets=tps, asynchronous=False)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if time.monotonic() > deadline or not (
                        err.retriable() or err.code() in _COMMIT_RETRY):
                    raise RedriveError(f"cannot commit the redrive progress of {self.group}: "
                                       f"{kafka_error_text(exc)}") from None
                time.sleep(0.2)  # coordinator moving: back off, then commit again

    def _target_ends(self, consumer: Consumer, topic: str) -> dict[int, int]:
        marks = watermarks(consumer, topic, partitions_of(consumer, topic, self.timeout_s),
                           self.timeout_s)
        return {p: high for p, (_, high) in marks.items()}

    def run(self, plan: RedrivePlan, progress: Progress | None = None) -> RedriveResult:
        """Put back every dead letter the plan selected and has not found copied. Returns
        what was sent; raises RedriveError (after committing what was acknowledged) when the
        broker refuses the copies. KeyboardInterrupt commits what was acknowledged, then
        propagates."""
        self.settings.check_writable("dlq redrive")
        result = RedriveResult(plan)
        consumer = self._consumer()
        producer = self._producer()
        started = time.monotonic()
        partitions = sorted(plan.marks)
        # where copies of this run can be found, written down before the first copy exists
        scan_from: ScanFrom = {t: dict(ps) for t, ps in (plan.scan_from or {}).items()}
        for target in plan.by_target:
            if target not in scan_from:
                scan_from[target] = self._target_ends(consumer, target)
        positions = dict(plan.starts)
        self._commit(consumer, positions, scan_from, partitions)
        state = _Acks(positions)
        limit = self.request.limit
        selected = 0
        total = plan.to_send
        failure: KafkaError | None = None
        last_commit = time.monotonic()
        committed_positions = dict(positions)

        def on_delivery(partition: int, offset: int, err: KafkaError | None, _: Any) -> None:
            nonlocal failure
            if err is not None:
                failure = failure or err
                return
            state.acked(partition, offset)

        try:
            for letter in self._letters(consumer, plan):
                if failure is not None:
                    break
                p, o = letter.partition, letter.offset
                if not self.request.filter.matches(letter) or (
                        limit is not None and selected >= limit):
                    state.block(p, o)
                    continue
                selected += 1
                if (p, o) in plan.copies:
                    result.skipped_already += 1
                    state.done(p, o)
                    continue
                target = self.request.target_of(letter)
                assert target is not None  # the plan refused dead letters without one
                state.pending(p, o)
                self._send(producer, target, letter, partial(on_delivery, p, o))
                result.sent[target] += 1
                if self.request.rate is not None:
                    ahead = result.total_sent / self.request.rate - (time.monotonic() - started)
                    if ahead > 0:
                        producer.poll(0)
                        time.sleep(ahead)  # pacing --rate: records per second
                producer.poll(0)
                if progress is not None and result.total_sent % 100 == 0:
                    progress(state.acked_count, total)
                if time.monotonic() - last_commit >= self.commit_interval_s:
                    committed_positions = self._commit_acked(
                        consumer, state, committed_positions, scan_from, partitions)
                    last_commit = time.monotonic()
            self._flush(producer)
        except KeyboardInterrupt:
            result.interrupted = True
            self._flush(producer, give_up_s=10)
            self._commit_acked(consumer, state, committed_positions, scan_from, partitions)
            consumer.close()
            raise
        if failure is None:
            self._flush(producer)
            if not state.blocked:  # read through to the end: every offset below it is done
                state.reached({p: high for p, (_, high) in plan.marks.items()})
        committed_positions = self._commit_acked(
            consumer, state, committed_positions, scan_from, partitions)
        if failure is not None:
            consumer.close()
            raise RedriveError(f"the broker refused a copy: {failure.str()} "
                               f"({state.acked_count} put back and committed; run the same "
                               "command again to go on)")
        if not state.blocked and all(committed_positions[p] >= plan.marks[p][1]
                                     for p in partitions):
            # everything up to the end is put back: later copies can only come after now
            finished = {t: self._target_ends(consumer, t) for t in scan_from}
            self._commit(consumer, committed_positions, finished, partitions)
        consumer.close()
        result.positions = committed_positions
        result.elapsed_s = time.monotonic() - started
        if progress is not None:
            progress(state.acked_count, total)
        return result

    def _send(self, producer: Producer, target: str, letter: DeadLetter,
              on_delivery: Callable[[KafkaError | None, Any], None]) -> None:
        headers = [(k, v) for k, v in letter.headers
                   if k not in DLQ_HEADERS and k not in REDRIVE_HEADERS]
        headers += [
            (REDRIVE_TOPIC, letter.topic.encode()),
            (REDRIVE_PARTITION, str(letter.partition).encode()),
            (REDRIVE_OFFSET, str(letter.offset).encode()),
            (REDRIVE_AT, datetime.now(UTC).isoformat(timespec="milliseconds").encode()),
        ]
        while True:
            try:
                producer.produce(target, letter.value, letter.key, headers=headers,
                                 on_delivery=on_delivery)
                return
            except BufferError:  # librdkafka's queue is full: serve acks, then try again
                producer.poll(0.05)
            except KafkaException as exc:
                raise RedriveError(f"cannot produce to {target}: "
                                   f"{kafka_error_text(exc)}") from None

    def _flush(self, producer: Producer, give_up_s: float | None = None) -> None:
        deadline = time.monotonic() + (give_up_s if give_up_s is not None
                                       else max(60.0, 6 * self.timeout_s))
        while producer.flush(1.0) > 0:
            if time.monotonic() > deadline:
                raise RedriveError("copies still unacknowledged after the deadline: run the "
                                   "same command again (nothing is repeated)")

    def _commit_acked(self, consumer: Consumer, state: _Acks, committed: dict[int, int],
                      scan_from: ScanFrom, partitions: list[int]) -> dict[int, int]:
        positions = state.positions()
        if positions != committed:
            self._commit(consumer, positions, scan_from, partitions)
        return positions


_COMMIT_RETRY = {
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR, KafkaError.REQUEST_TIMED_OUT, KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
}


class _Acks:
    """Per dead-letter partition: which copies are in flight, and the first offset below which
    everything is put back (the position to commit). A record the run leaves out blocks its
    partition's position at its offset."""

    def __init__(self, starts: dict[int, int]) -> None:
        self._position = dict(starts)
        self._waiting: dict[int, list[int]] = defaultdict(list)  # offsets in produce order
        self._done: dict[int, set[int]] = defaultdict(set)
        self._blocked_at: dict[int, int] = {}
        self.acked_count = 0

    @property
    def blocked(self) -> bool:
        return bool(self._blocked_at)

    def pending(self, partition: int, offset: int) -> None:
        self._waiting[partition].append(offset)

    def done(self, partition: int, offset: int) -> None:
        self._waiting[partition].append(offset)
        self._done[partition].add(offset)

    def block(self, partition: int, offset: int) -> None:
        self._blocked_at.setdefault(partition, offset)

    def acked(self, partition: int, offset: int) -> None:
        self._done[partition].add(offset)
        self.acked_count += 1

    def reached(self, ends: dict[int, int]) -> None:
        """The run read every partition to `ends` and nothing is left out or in flight."""
        self.positions()
        for partition, end in ends.items():
            if not self._waiting[partition]:
                self._position[partition] = max(self._position[partition], end)

    def positions(self) -> dict[int, int]:
        for partition, waiting in self._waiting.items():
            done = self._done[partition]
            stop = self._blocked_at.get(partition)
            i = 0
            while i < len(waiting) and waiting[i] in done and (stop is None or waiting[i] < stop):
                done.discard(waiting[i])
                self._position[partition] = waiting[i] + 1
                i += 1
            del waiting[:i]
        return dict(self._position)

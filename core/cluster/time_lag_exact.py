"""Exact time lag: the timestamp of the record at a group's committed offset.

A group committed at ``C`` has not read record ``C`` yet; that record was written at its
timestamp ``ts``, so the group is ``now - ts`` behind — a measured figure, not an
interpolation over sampled end offsets (which only knows "at least the sampling window" for a
commit older than its first sample). Kafka's own tools read it the same way (a fetch at the
offset), and so does klag-exporter (``timestamp_sampling``).

Cost: one bounded fetch per *distinct* (topic, partition, committed offset) of a lagging
group, through one long-lived consumer per cluster that only assigns (never subscribes, never
commits, never joins a group), a chunk of partitions at a time so that the budget holds on
clusters of tens of thousands of partitions. A stuck consumer keeps its committed offset, so
its record's timestamp is cached: steady state fetches only the partitions whose commit moved.

What the figure is:

* the record read is the one at ``C``: exact;
* the record at ``C`` is gone (retention, compaction) or is a transaction marker, and the
  first readable record after it was read instead: it was appended later, so ``now - ts`` is
  a **lower bound** (``exact`` False);
* no record within the budget: unknown (absent from the result).

Timestamps are the records' own (CreateTime unless the topic uses LogAppendTime): a producer
with a wrong clock makes a wrong figure, as in every timestamp-based tool.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from msgspec import Struct

if TYPE_CHECKING:  # imported where used: the results are unpickled where no client is
    from confluent_kafka import Consumer

    from core.config.settings import ConnectionSettings

RecordKey = tuple[str, int, int]
"""(topic, partition, committed offset)."""

#: Partitions assigned at once. librdkafka's assign and unassign of tens of thousands of
#: partitions cannot be interrupted and outlast any budget; in chunks, the budget is checked
#: between them, so a lookup overruns it by at most one chunk's work. Each chunk after the
#: first waits for librdkafka to stop the previous chunk's partitions, one by one (its
#: `unassign` returns before they are stopped): chunks are as large as the budget allows, so
#: that a cluster of a few thousand lagging partitions is read in one (BENCHMARKS.md §11).
CHUNK_PARTITIONS = 5000

#: The group id librdkafka insists on; nothing is ever committed or joined under it.
TIMESTAMP_READER_GROUP = "nexus-tui-timestamp-reader"


class CommittedRecord(Struct, frozen=True):
    """The record found at (or, when that one is gone, just after) a committed offset."""

    offset: int
    timestamp_s: float
    exact: bool  # the record read is the one at the committed offset


class ExactTimeLag(Struct, frozen=True):
    """Seconds behind, and whether the figure is only a lower bound."""

    seconds: float
    lower_bound: bool


def time_lag_of(committed: int | None, log_end: int, record: CommittedRecord | None,
                now: float) -> ExactTimeLag | None:
    """A group partition's time lag: 0 when caught up, ``now - ts`` of the committed record
    when behind, ``None`` when unknown (never committed, or no record read)."""
    if committed is None or committed < 0:
        return None
    if committed >= log_end:
        return ExactTimeLag(0.0, False)
    if record is None:
        return None
    return ExactTimeLag(max(0.0, now - record.timestamp_s), not record.exact)


class CommittedRecordTimes:
    """Reads (and caches) the timestamps of records at committed offsets on one cluster.

    `lookup` is safe to call from one task at a time; the fetches run in a worker thread.
    The cache keeps the keys of the last lookup only, so it is bounded by the lagging
    partitions of the cluster."""

    def __init__(self, settings: ConnectionSettings | str, *, budget_s: float = 5.0,
                 chunk_partitions: int = CHUNK_PARTITIONS) -> None:
        from core.config.settings import ConnectionSettings

        self.settings = ConnectionSettings.of(settings)
        self.budget_s = budget_s
        if chunk_partitions < 1:
            raise ValueError("chunk_partitions must be at least 1")
        self.chunk_partitions = chunk_partitions
        self._chunks = 0  # chunks read by the running lookup
        self._cache: dict[RecordKey, CommittedRecord] = {}
        self._consumer: Consumer | None = None
        self._lock = threading.Lock()  # close() against a fetch still running in its thread
        #: what the last lookup did: keys asked, served from cache, fetched, not found
        self.last: dict[str, float] = {}

    def _reader(self) -> Consumer:
        from confluent_kafka import Consumer

        if self._consumer is None:
            self._consumer = Consumer(self.settings.confluent_config(**{
                "group.id": TIMESTAMP_READER_GROUP,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",  # record at C deleted: the first one after
                "isolation.level": "read_uncommitted",
                # one small batch per partition is all a lookup needs
                "max.partition.fetch.bytes": 4096,
                "fetch.max.bytes": 1 << 20,
                "queued.max.messages.kbytes": 1024,
                "fetch.wait.max.ms": 10,
                "log_level": 0,
            }))
        return self._consumer

    def cached(self, keys: Iterable[RecordKey]) -> dict[RecordKey, CommittedRecord]:
        """The records of these keys read by an earlier lookup (no fetch)."""
        cache = self._cache
        return {k: cache[k] for k in keys if k in cache}

    async def lookup(self, keys: Iterable[RecordKey]) -> dict[RecordKey, CommittedRecord]:
        """The committed records of these keys that could be read within the budget."""
        wanted = list(dict.fromkeys(keys))
        found = {k: self._cache[k] for k in wanted if k in self._cache}
        missing = [k for k in wanted if k not in found]
        started = time.perf_counter()
        self._chunks = 0
        if missing:
            found.update(await asyncio.to_thread(self._fetch, missing))
        self._cache = found.copy()
        self.last = {"keys": len(wanted), "cached": len(wanted) - len(missing),
                     "fetched": sum(1 for k in missing if k in found),
                     "missing": sum(1 for k in missing if k not in found),
                     "chunks": self._chunks,
                     "fetch_s": time.perf_counter() - started}
        return found

    def _fetch(self, keys: list[RecordKey]) -> dict[RecordKey, CommittedRecord]:
        out: dict[RecordKey, CommittedRecord] = {}
        deadline = time.monotonic() + self.budget_s
        with self._lock:
            consumer = self._reader()
            pending = keys
            while pending and time.monotonic() < deadline:
                # a consumer holds one position per partition: distinct partitions per round
                this_round: dict[tuple[str, int], int] = {}
                later: list[RecordKey] = []
                for topic, partition, offset in pending:
                    if (topic, partition) in this_round:
                        later.append((topic, partition, offset))
                    else:
                        this_round[(topic, partition)] = offset
                items = list(this_round.items())
                for start in range(0, len(items), self.chunk_partitions):
                    if time.monotonic() >= deadline:
                        break
                    self._chunks += 1
                    chunk = dict(items[start:start + self.chunk_partitions])
                    self._read_round(consumer, chunk, out, deadline)
                pending = later
        return out

    @staticmethod
    def _read_round(consumer: Consumer, want: dict[tuple[str, int], int],
                    out: dict[RecordKey, CommittedRecord], deadline: float) -> None:
        from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, TopicPartition

        consumer.assign([TopicPartition(t, p, o) for (t, p), o in want.items()])
        try:
            while want:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                for msg in consumer.consume(num_messages=max(1, len(want)),
                                            timeout=min(0.2, left)):
                    key = (msg.topic(), msg.partition())
                    if key not in want:
                        continue
                    err = msg.error()
                    if err is not None:
                        # end of the partition: nothing readable; any other error of this
                        # partition (not authorized, ...): unknown now, not worth the budget
                        want.pop(key)
                        continue
                    committed = want.pop(key)
                    ts_type, ts_ms = msg.timestamp()
                    if ts_type == TIMESTAMP_NOT_AVAILABLE or ts_ms < 0:
                        continue
                    out[(key[0], key[1], committed)] = CommittedRecord(
                        msg.offset(), ts_ms / 1000.0, msg.offset() == committed)
        finally:
            consumer.unassign()

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None

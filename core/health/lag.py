"""Consumer-group lag, per partition and summed per group and per group x topic.

Pure functions over offsets the caller already read; no I/O, no clock.

Lag follows Kafka's own ``ConsumerGroupCommand`` (``kafka-consumer-groups.sh --describe``):
``lag = log_end - committed``, shown as "-" (here ``None``) when the group never committed
on the partition. One difference, on purpose: a committed offset above the log end (a hand
commit or an offset reset past the end, a topic recreated under its group, or reading the
two at different times) gives lag 0 here, where Kafka's tool prints a negative lag; the
snapshot reads end offsets and commits in the same pass so that the clamp does not hide real
lag (KMinion v1 showed 0 that way). tests/test_lag_vs_kafka.py states each difference.
"""

from __future__ import annotations

from collections.abc import Iterable

from msgspec import Struct


class LagSample(Struct, frozen=True):
    """One observation of a group's position on a partition, taken at wall time ``t``.

    ``committed`` is ``None`` while the group has no committed offset on the partition.
    ``log_start`` is optional: it lets status rules tell an empty partition from one with
    records nobody has committed against.
    """

    t: float
    committed: int | None
    log_end: int
    log_start: int | None = None

    @property
    def lag(self) -> int | None:
        """``max(0, log_end - committed)``, or ``None`` when never committed."""
        return lag_of(self.committed, self.log_end)


def lag_of(committed: int | None, log_end: int) -> int | None:
    """Kafka's lag for one partition: ``log_end - committed`` clamped at 0; ``None`` if no commit.

    A negative ``committed`` (Kafka's ``-1`` for "no offset") counts as no commit.
    """
    committed = normalize_committed(committed)
    if committed is None:
        return None
    return max(0, log_end - committed)


def normalize_committed(committed: int | None) -> int | None:
    """Map Kafka's "no committed offset" markers (``None`` or any negative offset) to ``None``."""
    if committed is None or committed < 0:
        return None
    return committed


class PartitionLag(Struct, frozen=True):
    """One row of ``group describe``: a group's position and lag on one partition.

    ``data_loss`` is true when the commit is below the log start: the records between the
    commit and the log start were deleted by retention before the group consumed them.
    """

    topic: str
    partition: int
    committed: int | None
    log_start: int
    log_end: int
    lag: int | None
    data_loss: bool
    member: str | None = None
    client_id: str | None = None
    host: str | None = None

    @property
    def records_lost(self) -> int:
        """How many records retention deleted before the group read them (0 when none)."""
        if self.committed is None or not self.data_loss:
            return 0
        return self.log_start - self.committed

    @property
    def consumable_lag(self) -> int | None:
        """Records still readable ahead of the group: ``lag`` minus :attr:`records_lost`."""
        if self.lag is None:
            return None
        return max(0, self.lag - self.records_lost)


def partition_lag(
    topic: str,
    partition: int,
    committed: int | None,
    log_start: int,
    log_end: int,
    *,
    member: str | None = None,
    client_id: str | None = None,
    host: str | None = None,
) -> PartitionLag:
    """Build the :class:`PartitionLag` row for a committed offset and the partition's bounds."""
    committed = normalize_committed(committed)
    return PartitionLag(
        topic=topic,
        partition=partition,
        committed=committed,
        log_start=log_start,
        log_end=log_end,
        lag=lag_of(committed, log_end),
        data_loss=committed is not None and committed < log_start,
        member=member,
        client_id=client_id,
        host=host,
    )


class TopicLag(Struct, frozen=True):
    """A group's lag on one topic. Totals are ``None`` when no partition has a commit."""

    topic: str
    total_lag: int | None
    max_lag: int | None
    partitions: tuple[PartitionLag, ...]

    @property
    def partition_count(self) -> int:
        """Number of partitions of the topic the group has a row for."""
        return len(self.partitions)


class GroupLag(Struct, frozen=True):
    """A group's lag summed over everything it consumes, with per-topic breakdown.

    ``topics`` are sorted by name, ``partitions`` by (topic, partition). Partitions never
    committed (lag ``None``) add nothing to the totals; totals are ``None`` only when no
    partition at all has a commit (Kafka's "-").
    """

    group: str
    total_lag: int | None
    max_lag: int | None
    topics: tuple[TopicLag, ...]
    partitions: tuple[PartitionLag, ...]

    def topic(self, name: str) -> TopicLag | None:
        """The :class:`TopicLag` for ``name``, or ``None`` if the group has no row on it."""
        return next((t for t in self.topics if t.topic == name), None)

    @property
    def data_loss_partitions(self) -> tuple[PartitionLag, ...]:
        """Partitions whose commit fell below the log start (records lost to retention)."""
        return tuple(p for p in self.partitions if p.data_loss)

    @property
    def uncommitted_partitions(self) -> tuple[PartitionLag, ...]:
        """Partitions where the group has no committed offset."""
        return tuple(p for p in self.partitions if p.committed is None)


def _totals(rows: Iterable[PartitionLag]) -> tuple[int | None, int | None]:
    """Sum and max of the known lags in ``rows``; ``(None, None)`` when none is known."""
    lags = [r.lag for r in rows if r.lag is not None]
    if not lags:
        return None, None
    return sum(lags), max(lags)


def summarize_topic(topic: str, partitions: Iterable[PartitionLag]) -> TopicLag:
    """Total and max lag of one topic's partition rows (rows of other topics are an error)."""
    rows = tuple(sorted(partitions, key=lambda p: p.partition))
    if any(r.topic != topic for r in rows):
        raise ValueError(f"summarize_topic({topic!r}) got rows of another topic")
    total, biggest = _totals(rows)
    return TopicLag(topic=topic, total_lag=total, max_lag=biggest, partitions=rows)


def summarize_group(group: str, partitions: Iterable[PartitionLag]) -> GroupLag:
    """Sum a group's partition rows into per-topic and whole-group totals and maxima.

    Raises ``ValueError`` if the same (topic, partition) appears twice.
    """
    rows = tuple(sorted(partitions, key=lambda p: (p.topic, p.partition)))
    keys = [(r.topic, r.partition) for r in rows]
    if len(set(keys)) != len(keys):
        raise ValueError(f"group {group!r}: a (topic, partition) appears more than once")
    by_topic: dict[str, list[PartitionLag]] = {}
    for r in rows:
        by_topic.setdefault(r.topic, []).append(r)
    topics = tuple(summarize_topic(name, by_topic[name]) for name in sorted(by_topic))
    total, biggest = _totals(rows)
    return GroupLag(group=group, total_lag=total, max_lag=biggest, topics=topics, partitions=rows)

"""A consistent, typed picture of a cluster at one moment: brokers, topics, partitions with
their offsets, consumer groups with members and commits. Built by `core.cluster.admin.KafkaAdmin`;
read by the lag, distribution and UI code. Pure data: no I/O here."""

from __future__ import annotations

from collections.abc import Iterator

from msgspec import Struct, field

from core.health.lag import GroupLag, PartitionLag, partition_lag, summarize_group

#: Topic configs the dashboard shows.
TOPIC_CONFIGS = ("retention.ms", "retention.bytes", "cleanup.policy", "min.insync.replicas")


class Broker(Struct, frozen=True):
    id: int
    host: str
    port: int
    rack: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class PartitionInfo(Struct, frozen=True):
    topic: str
    partition: int
    leader: int  # -1 when offline
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    log_start: int | None = None  # None when the offsets could not be read
    log_end: int | None = None

    @property
    def offline(self) -> bool:
        return self.leader < 0

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)

    @property
    def records(self) -> int | None:
        """Records currently in the log (end − start; compaction can make it smaller)."""
        if self.log_start is None or self.log_end is None:
            return None
        return max(0, self.log_end - self.log_start)


class TopicInfo(Struct, frozen=True):
    name: str
    partitions: tuple[PartitionInfo, ...]
    internal: bool = False
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def records(self) -> int:
        return sum(p.records or 0 for p in self.partitions)

    @property
    def log_end_total(self) -> int:
        return sum(p.log_end or 0 for p in self.partitions)

    @property
    def under_replicated(self) -> int:
        return sum(1 for p in self.partitions if p.under_replicated)

    @property
    def offline(self) -> int:
        return sum(1 for p in self.partitions if p.offline)


class GroupMember(Struct, frozen=True):
    member_id: str
    client_id: str
    host: str
    assignment: tuple[tuple[str, int], ...] = ()
    group_instance_id: str | None = None


class GroupInfo(Struct, frozen=True):
    group_id: str
    state: str  # Stable, Empty, Dead, PreparingRebalance, CompletingRebalance, Assigning, ...
    protocol: str = ""  # assignor (range, roundrobin, uniform, ...)
    group_type: str = ""  # classic / consumer
    coordinator: int | None = None
    members: tuple[GroupMember, ...] = ()
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # committed, ≥ 0 only
    error: str | None = None  # e.g. not authorized to describe it

    @property
    def topics(self) -> tuple[str, ...]:
        names = {t for t, _ in self.offsets} | {t for m in self.members for t, _ in m.assignment}
        return tuple(sorted(names))

    @property
    def is_active(self) -> bool:
        return bool(self.members) or self.state not in ("Empty", "Dead", "Unknown", "")

    def owner_of(self, topic: str, partition: int) -> GroupMember | None:
        for member in self.members:
            if (topic, partition) in member.assignment:
                return member
        return None


class ClusterSnapshot(Struct, frozen=True):
    cluster_id: str
    controller: int | None
    brokers: tuple[Broker, ...]
    topics: dict[str, TopicInfo]
    groups: dict[str, GroupInfo]
    taken_at: float  # wall clock, seconds
    took_s: float = 0.0
    errors: tuple[str, ...] = ()  # per-item problems that did not stop the snapshot

    # -- derived views ------------------------------------------------------------------------

    def partitions(self) -> Iterator[PartitionInfo]:
        for topic in self.topics.values():
            yield from topic.partitions

    def partition(self, topic: str, partition: int) -> PartitionInfo | None:
        info = self.topics.get(topic)
        if info is None:
            return None
        for p in info.partitions:
            if p.partition == partition:
                return p
        return None

    @property
    def partition_count(self) -> int:
        return sum(len(t.partitions) for t in self.topics.values())

    @property
    def under_replicated(self) -> int:
        return sum(t.under_replicated for t in self.topics.values())

    @property
    def offline(self) -> int:
        return sum(t.offline for t in self.topics.values())

    def groups_of_topic(self, topic: str) -> list[str]:
        return sorted(g.group_id for g in self.groups.values() if topic in g.topics)

    def partition_lags(self, group_id: str) -> list[PartitionLag]:
        """Lag of every partition of every topic the group commits to or is assigned."""
        group = self.groups[group_id]
        rows: list[PartitionLag] = []
        for topic in group.topics:
            info = self.topics.get(topic)
            if info is None:  # commits for a deleted topic: nothing to measure against
                continue
            for p in info.partitions:
                member = group.owner_of(topic, p.partition)
                rows.append(partition_lag(
                    topic, p.partition, group.offsets.get((topic, p.partition)),
                    p.log_start or 0, p.log_end or 0,
                    member=member.member_id if member else None,
                    client_id=member.client_id if member else None,
                    host=member.host if member else None,
                ))
        return rows

    def group_lag(self, group_id: str) -> GroupLag:
        return summarize_group(group_id, self.partition_lags(group_id))


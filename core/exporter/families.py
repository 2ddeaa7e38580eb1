"""One cluster's collection as Prometheus metric families: a pure function of the monitor's
view and the exact time lags, so a scrape only hands out what was built here.

Names and labels of the lag metrics are kafka-lag-exporter's, so the dashboards and alert
rules written for it (and for klag-exporter, which kept them) work unchanged. The
``nexus_*`` families are ours. Unknown is absent: a partition never committed has no offset
or lag series, a time lag that could not be read has no series, and a time lag known only as
a lower bound goes to ``nexus_consumergroup_group_lag_seconds_lower_bound``, never to the
exact ``kafka_consumergroup_group_lag_seconds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from core.cluster.time_lag_exact import CommittedRecord, RecordKey, time_lag_of
from core.engine.monitor import MonitorView

PARTITION_LABELS = ["cluster_name", "group", "topic", "partition", "member_host",
                    "consumer_id", "client_id"]
#: every value the status family can take (a StateSet: 1 for the current ones, 0 otherwise)
STATUSES = ("OK", "WARN", "ERR", "STOP", "STALL", "REWIND", "UNKNOWN")


@dataclass(frozen=True)
class FamilyOptions:
    partition_metrics: bool = True  # per-partition series (off: per group/topic only)


def lagging_keys(view: MonitorView) -> list[RecordKey]:
    """(topic, partition, committed) of every group partition that is behind: the records
    whose timestamps make the exact time lag."""
    keys = []
    for g in view.groups.values():
        for p in g.partitions:
            if p.committed is not None and p.offset_lag:
                keys.append((p.topic, p.partition, p.committed))
    return keys


def build_families(cluster: str, view: MonitorView,
                   records: Mapping[RecordKey, CommittedRecord], now: float,
                   options: FamilyOptions = FamilyOptions()) -> list[Metric]:
    """Every family of one cluster's collection (the exporter's own up/duration families are
    added at scrape time)."""
    fam = _Families(cluster)
    snap = view.snapshot
    per_part = options.partition_metrics
    for gid, g in view.groups.items():
        group_max_s: float | None = None
        topic_sums: dict[str, int] = {}
        parts = g.partitions
        for p in parts:
            labels = [gid, p.topic, str(p.partition), p.host or "", p.member or "",
                      p.client_id or ""]
            if p.committed is not None and p.offset_lag is not None:
                topic_sums[p.topic] = topic_sums.get(p.topic, 0) + p.offset_lag
                if per_part:
                    fam.add("kafka_consumergroup_group_offset", labels, p.committed)
                    fam.add("kafka_consumergroup_group_lag", labels, p.offset_lag)
            tl = time_lag_of(p.committed, p.log_end,
                             records.get((p.topic, p.partition,
                                          -1 if p.committed is None else p.committed)), now)
            if tl is None:
                continue
            if tl.lower_bound:
                if per_part:
                    fam.add("nexus_consumergroup_group_lag_seconds_lower_bound", labels,
                            tl.seconds)
                continue
            if per_part:
                fam.add("kafka_consumergroup_group_lag_seconds", labels, tl.seconds)
            group_max_s = tl.seconds if group_max_s is None else max(group_max_s, tl.seconds)
        if g.max_lag is not None:
            fam.add("kafka_consumergroup_group_max_lag", [gid], g.max_lag)
            fam.add("kafka_consumergroup_group_sum_lag", [gid], g.total_lag or 0)
        if group_max_s is not None:
            fam.add("kafka_consumergroup_group_max_lag_seconds", [gid], group_max_s)
        for topic, total in sorted(topic_sums.items()):
            fam.add("kafka_consumergroup_group_topic_sum_lag", [gid, topic], total)
        worst = max((p.verdict.status for p in parts), key=lambda s: s.severity, default=None)
        current = {g.status.value} | ({worst.value} if worst and worst.is_error else set())
        for status in STATUSES:
            fam.add("nexus_consumergroup_status", [gid, status], 1 if status in current else 0)
        fam.add("nexus_consumergroup_members", [gid], g.members)
    for name, t in view.topics.items():
        if per_part:
            for part in t.info.partitions:
                if part.log_end is not None:
                    fam.add("kafka_partition_latest_offset", [name, str(part.partition)],
                            part.log_end)
                if part.log_start is not None:
                    fam.add("kafka_partition_earliest_offset", [name, str(part.partition)],
                            part.log_start)
        fam.add("nexus_topic_partitions", [name], len(t.info.partitions))
        fam.add("nexus_topic_under_replicated_partitions", [name], t.info.under_replicated)
        fam.add("nexus_topic_offline_partitions", [name], t.info.offline)
        fam.add("nexus_topic_skew_cv", [name], t.skew.cv)
        fam.add("nexus_topic_skew_max_over_mean", [name], t.skew.max_over_mean)
        fam.add("nexus_topic_hot_partitions", [name], len(t.skew.hot_partitions))
    live = {b.id for b in snap.brokers}
    expected = live | {r for part in snap.partitions() for r in part.replicas}
    fam.add("nexus_cluster_brokers", [], len(live))
    fam.add("nexus_cluster_brokers_down", [], len(expected - live))
    fam.add("nexus_cluster_under_replicated_partitions", [], snap.under_replicated)
    fam.add("nexus_cluster_offline_partitions", [], snap.offline)
    fam.add("nexus_cluster_partitions", [], snap.partition_count)
    fam.add("nexus_cluster_consumer_groups", [], len(view.groups))
    return fam.done()


#: name -> (help, labels after cluster_name)
SPECS: dict[str, tuple[str, list[str]]] = {
    "kafka_consumergroup_group_offset": (
        "Committed offset of a consumer group on a partition (absent: never committed).",
        PARTITION_LABELS[1:]),
    "kafka_consumergroup_group_lag": (
        "Lag in records: log end offset minus committed offset (as ConsumerGroupCommand).",
        PARTITION_LABELS[1:]),
    "kafka_consumergroup_group_lag_seconds": (
        "Exact time lag: now minus the timestamp of the record at the committed offset "
        "(0 when caught up; absent when unknown or only a lower bound).",
        PARTITION_LABELS[1:]),
    "nexus_consumergroup_group_lag_seconds_lower_bound": (
        "Time lag known only as at least this many seconds: the record at the committed "
        "offset is gone (retention, compaction), the first one after it was read.",
        PARTITION_LABELS[1:]),
    "kafka_consumergroup_group_max_lag": (
        "Largest partition lag of a group, in records.", ["group"]),
    "kafka_consumergroup_group_max_lag_seconds": (
        "Largest exact partition time lag of a group, in seconds.", ["group"]),
    "kafka_consumergroup_group_sum_lag": ("Total lag of a group, in records.", ["group"]),
    "kafka_consumergroup_group_topic_sum_lag": (
        "Total lag of a group on one topic, in records.", ["group", "topic"]),
    "nexus_consumergroup_status": (
        "Burrow-style status of a group (1: current). The group's verdict (OK/WARN/ERR/"
        "UNKNOWN) and, when ERR, its worst partition's (STOP/STALL/REWIND) are both 1.",
        ["group", "status"]),
    "nexus_consumergroup_members": ("Members of a consumer group.", ["group"]),
    "kafka_partition_latest_offset": ("Log end offset of a partition.", ["topic", "partition"]),
    "kafka_partition_earliest_offset": (
        "Log start offset of a partition.", ["topic", "partition"]),
    "nexus_topic_partitions": ("Partitions of a topic.", ["topic"]),
    "nexus_topic_under_replicated_partitions": (
        "Partitions of a topic with fewer in-sync replicas than replicas.", ["topic"]),
    "nexus_topic_offline_partitions": ("Partitions of a topic without a leader.", ["topic"]),
    "nexus_topic_skew_cv": (
        "Coefficient of variation of a topic's per-partition produce rates (record counts "
        "until rates are known); above 0.5 is high.", ["topic"]),
    "nexus_topic_skew_max_over_mean": (
        "Busiest partition over the mean partition of a topic; 2 or more is severe.",
        ["topic"]),
    "nexus_topic_hot_partitions": (
        "Partitions of a topic at or above twice the mean.", ["topic"]),
    "nexus_cluster_brokers": ("Brokers the cluster reports alive.", []),
    "nexus_cluster_brokers_down": (
        "Brokers named as replicas that the cluster does not report alive.", []),
    "nexus_cluster_under_replicated_partitions": ("Under-replicated partitions.", []),
    "nexus_cluster_offline_partitions": ("Partitions without a leader.", []),
    "nexus_cluster_partitions": ("Partitions collected (after --topics).", []),
    "nexus_cluster_consumer_groups": ("Consumer groups collected (after --groups).", []),
}


class _Families:
    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self._families: dict[str, GaugeMetricFamily] = {}

    def add(self, name: str, labels: list[str], value: float) -> None:
        family = self._families.get(name)
        if family is None:
            doc, names = SPECS[name]
            family = self._families[name] = GaugeMetricFamily(
                name, doc, labels=["cluster_name", *names])
        family.add_metric([self.cluster, *labels], value)

    def done(self) -> list[Metric]:
        return list(self._families.values())


class _Fixed:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def render_blocks(families: list[Metric]) -> dict[str, tuple[str, str]]:
    """The families in Prometheus's text format, rendered once by prometheus_client when the
    collection completes: name -> (its HELP and TYPE lines, its sample lines). A scrape then
    only joins text: the same family from several clusters becomes one block (the format
    wants each family once), and no scrape pays for formatting thousands of samples."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))  # type: ignore[arg-type]
    blocks: dict[str, tuple[str, str]] = {}
    name, head, body = "", [], []  # type: ignore[var-annotated]
    for line in generate_latest(registry).decode().splitlines(keepends=True):
        if line.startswith("# HELP "):
            if name:
                blocks[name] = ("".join(head), "".join(body))
            name, head, body = line.split(" ", 3)[2], [line], []
        elif line.startswith("# "):
            head.append(line)
        else:
            body.append(line)
    if name:
        blocks[name] = ("".join(head), "".join(body))
    return blocks

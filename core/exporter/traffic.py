"""Nexus traffic of one cluster for the exporter: the TUI engine's own machinery
(core/traffic: a `TrafficWatcher` tailing the cluster's Nexus topics, its `TrafficWindow`),
read as Prometheus counters, gauges and a latency histogram.

Which topics: the Nexus-named topics of each collection's view (so `--topics` applies), and
the `.dlq` topic of each; the watcher also follows the reply topics the requests name. Every
tracked topic gets series, labelled by ``topic``.

Counters are the window's totals (`TrafficWindow.totals`): counts since the topic was first
tracked, never reset. They stay monotonic while a cluster is down (the watcher's consumer
waits and goes on; records appended meanwhile are read when it is back) and across a new
watcher, which replaces one that stopped working: the stopped one's totals are kept and
added, and the new one counts from the end of each topic (what was appended in between is
not counted). Only a restart of the exporter resets them, which Prometheus's rate() handles.

Replies, error replies and undecodable records are counted on the topic they were read from
(a reply topic); unanswered and pending requests and the reply latency on the request's
topic (the topic of the handler that answered). The latency histogram's bucket bounds are
powers of two of 10 µs: each is an edge of the window's own log-spaced histogram, so every
bucket count is exact; its sum is the exact sum of the latencies.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from msgspec import structs
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from core.config.settings import ConnectionSettings
from core.errors import NexusError
from core.traffic.window import (
    DEFAULT_UNANSWERED_AFTER_S,
    DEFAULT_WINDOW_S,
    LATENCY_MIN_MS,
    TopicRole,
    TopicTotals,
    latency_bucket,
)
from core.wire.topic_names import traffic_topics

log = logging.getLogger("nexus_tui.exporter")

#: the histogram's upper bounds in ms: 10 µs * 2^k, 1.28 ms to 41.9 s (then +Inf)
LATENCY_BOUNDS_MS = tuple(LATENCY_MIN_MS * 2 ** k for k in range(7, 23))
#: the last latency bucket (`latency_bucket`) of the samples below each bound
_LAST_BUCKET_BELOW = tuple(latency_bucket(bound * (1 - 1e-9)) for bound in LATENCY_BOUNDS_MS)

_COUNTERS = (  # family, TopicTotals field, help
    ("nexus_traffic_requests", "requests",
     "Nexus requests read from the topic since the exporter started watching it."),
    ("nexus_traffic_replies", "replies",
     "Nexus replies (error replies included) read from the topic (a reply topic)."),
    ("nexus_traffic_error_replies", "error_replies",
     "Nexus error replies read from the topic (a reply topic)."),
    ("nexus_traffic_events", "events", "Nexus events (no reply expected) read from the topic."),
    ("nexus_traffic_undecodable_records", "undecodable",
     "Records of the topic whose value is not a Nexus envelope."),
)
_GAUGES = ("nexus_traffic_unanswered_requests", "nexus_traffic_pending_requests",
           "nexus_exporter_traffic_up")
_HISTOGRAM = "nexus_traffic_reply_latency_seconds"
#: every sample name these families have (what dashboards and rules may query)
SERIES = (*(f"{name}_total" for name, _, _ in _COUNTERS), "nexus_traffic_dead_letters_total",
          *_GAUGES, *(f"{_HISTOGRAM}{suffix}" for suffix in ("_bucket", "_sum", "_count")))


def _added(a: TopicTotals, b: TopicTotals) -> TopicTotals:
    """Two watchers' totals of one topic, summed."""
    counts = {f.name: getattr(a, f.name) + getattr(b, f.name)
              for f in structs.fields(TopicTotals) if f.type is int}
    latency = dict(a.latency)
    for bucket, n in b.latency.items():
        latency[bucket] = latency.get(bucket, 0) + n
    return structs.replace(b, **counts, latency=latency,
                           latency_sum_ms=a.latency_sum_ms + b.latency_sum_ms)


class ClusterTraffic:
    """One cluster's traffic watcher, started with the first Nexus topic, replaced when it
    stops working; its totals as metric families."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self.watcher = None  # TrafficWatcher (aiokafka imported only when there is traffic)
        self.topics: set[str] = set()
        self.last_error: str | None = None
        self._kept: dict[str, TopicTotals] = {}  # totals of the watchers that stopped

    @property
    def up(self) -> bool:
        """Watching, and the watcher's last refresh succeeded."""
        w = self.watcher
        return w is not None and w.failure is None and w.last_error is None

    async def follow(self, names: Iterable[str]) -> None:
        """Watch the Nexus topics among `names` (a collection's topics) from now on. A
        failure (cluster unreachable at start) is kept in `last_error` and retried at the
        next call; it never fails the collection."""
        new = set(traffic_topics(names)) - self.topics
        self.topics |= new
        watcher = self.watcher
        if watcher is not None and watcher.failure is not None:
            self.last_error = f"the traffic watcher stopped: {watcher.failure}"
            log.warning("cluster traffic: %s; starting a new one", self.last_error)
            await self._retire()
            watcher = None
        if watcher is None:
            if self.topics:
                await self._start()
            return
        for topic in sorted(new):
            watcher.watch(topic)
        self.last_error = watcher.last_error

    async def _start(self) -> None:
        from core.traffic.watcher import TrafficWatcher

        # no tails of dead letters: the exporter counts them, it does not list them
        watcher = TrafficWatcher(self.settings, dead_letter_tail=0)
        for topic in sorted(self.topics):
            watcher.watch(topic)
        try:
            await watcher.start()
        except NexusError as exc:
            self.last_error = str(exc)
            with contextlib.suppress(Exception):
                await watcher.stop()
            return
        self.watcher, self.last_error = watcher, None

    async def _retire(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is None:
            return
        self._kept = self.totals()
        with contextlib.suppress(Exception):
            await watcher.stop()

    def totals(self) -> dict[str, TopicTotals]:
        """Every topic's totals since the exporter started (kept ones added)."""
        current = self.watcher.window.totals(self.watcher.clock()) if self.watcher else {}
        out = dict(self._kept)
        for topic, totals in current.items():
            kept = out.get(topic)
            out[topic] = totals if kept is None else _added(kept, totals)
        return out

    def families(self, cluster: str) -> list[Metric]:
        labels = ["cluster_name", "topic"]
        counters = {name: CounterMetricFamily(name, doc, labels=labels)
                    for name, _, doc in _COUNTERS}
        dead = CounterMetricFamily(
            "nexus_traffic_dead_letters", "Records appended to a dead-letter (.dlq) topic "
            "(from its end offsets, sampled every second).", labels=labels)
        unanswered = GaugeMetricFamily(
            "nexus_traffic_unanswered_requests", "Requests of the topic that got no reply "
            f"within {DEFAULT_UNANSWERED_AFTER_S:g} s, over the last {DEFAULT_WINDOW_S} s (as "
            "the TUI's traffic view).", labels=labels)
        pending = GaugeMetricFamily(
            "nexus_traffic_pending_requests", "Requests of the topic waiting for a reply, "
            f"younger than {DEFAULT_UNANSWERED_AFTER_S:g} s.", labels=labels)
        latency = HistogramMetricFamily(
            _HISTOGRAM, "Reply created_at minus request "
            "created_at, of the requests of the topic answered while watched (exact "
            "bucket counts and sum).", labels=labels)
        window = self.watcher.stats() if self.watcher is not None else {}
        for topic, t in self.totals().items():
            key = [cluster, topic]
            if t.role == TopicRole.DEAD_LETTER.value:
                dead.add_metric(key, t.dead_letters)
                continue
            for name, field, _ in _COUNTERS:
                counters[name].add_metric(key, getattr(t, field))
            now = window.get(topic)
            unanswered.add_metric(key, now.unanswered if now else 0)
            pending.add_metric(key, now.pending if now else 0)
            latency.add_metric(key, _buckets(t), t.latency_sum_ms / 1000)
        up = GaugeMetricFamily("nexus_exporter_traffic_up", "1 when the cluster's Nexus "
                               "traffic is being watched without error.", labels=["cluster_name"])
        up.add_metric([cluster], 1 if self.up else 0)
        return [*counters.values(), dead, unanswered, pending, latency, up]

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
            self.watcher = None


def _buckets(t: TopicTotals) -> list[tuple[str, float]]:
    """Cumulative (le in seconds, count) pairs of a topic's latency totals."""
    ordered = sorted(t.latency.items())
    out, seen, i = [], 0, 0
    for bound, last in zip(LATENCY_BOUNDS_MS, _LAST_BUCKET_BELOW, strict=True):
        while i < len(ordered) and ordered[i][0] <= last:
            seen += ordered[i][1]
            i += 1
        out.append((f"{bound / 1000:.10g}", seen))
    out.append(("+Inf", sum(t.latency.values())))
    return out

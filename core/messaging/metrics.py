"""Client metrics of the publisher and subscriber: readable in-process (the TUI shows them) and
exported through prometheus_client when a registry is given (Go's `WithMetrics(registry)`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

COUNTERS = {
    "published": "Envelopes acknowledged by the broker",
    "publish_errors": "Envelopes the broker did not acknowledge",
    "consumed": "Records fetched by subscribers",
    "handled_ok": "Records whose handler succeeded",
    "handled_failed": "Handler attempts that raised",
    "retries": "Handler retries after a failure",
    "dead_lettered": "Records sent to a dead-letter topic",
    "undecodable": "Records that were not Nexus envelopes",
}
_BATCH_BUCKETS = (1, 10, 100, 500, 1000, 5000, 10000, 50000)
_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


@dataclass
class Summary:
    """Count, sum and max of observed values."""

    count: int = 0
    total: float = 0.0
    max: float = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.max = max(self.max, value)

    def observe_many(self, count: int, total: float, largest: float) -> None:
        """`count` values of sum `total` and maximum `largest`, as `count` observe() calls."""
        self.count += count
        self.total += total
        if largest > self.max:
            self.max = largest


@dataclass(frozen=True)
class MetricsSnapshot:
    counters: dict[str, dict[str, int]]  # name -> topic -> count
    batch_sizes: Summary
    handler_seconds: Summary
    consumer_lag: dict[tuple[str, int], int]

    def total(self, name: str) -> int:
        return sum(self.counters.get(name, {}).values())


@dataclass
class ClientMetrics:
    """Shared by a publisher and the subscribers built with it."""

    registry: CollectorRegistry | None = None
    namespace: str = "nexus"
    _counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    _batch: Summary = field(default_factory=Summary)
    _handler: Summary = field(default_factory=Summary)
    _lag: dict[tuple[str, int], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._prom: dict[str, Counter] = {}
        if self.registry is None:
            return
        ns, reg = self.namespace, self.registry
        for name, doc in COUNTERS.items():
            self._prom[name] = Counter(f"{name}_total", doc, ["topic"], namespace=ns, registry=reg)
        self._prom_batch = Histogram("publish_batch_size", "Envelopes per publish batch",
                                     namespace=ns, registry=reg, buckets=_BATCH_BUCKETS)
        self._prom_handler = Histogram("handler_seconds", "Handler run time", ["topic"],
                                       namespace=ns, registry=reg, buckets=_SECONDS_BUCKETS)
        self._prom_lag = Gauge("consumer_lag", "Records behind the high watermark, as the "
                               "subscriber sees it", ["topic", "partition"], namespace=ns,
                               registry=reg)

    def inc(self, name: str, topic: str, n: int = 1) -> None:
        per_topic = self._counts[name]
        per_topic[topic] = per_topic.get(topic, 0) + n
        if self._prom:
            self._prom[name].labels(topic).inc(n)

    def batch(self, size: int) -> None:
        self._batch.observe(size)
        if self._prom:
            self._prom_batch.observe(size)

    @property
    def exported(self) -> bool:
        """Whether the metrics go to a Prometheus registry (which then wants each value)."""
        return bool(self._prom)

    def handled(self, topic: str, count: int, seconds: float, longest: float) -> None:
        """`count` successful handler runs of `seconds` in all, the longest `longest`: the
        same in-process counts as `count` handler_time() + inc("handled_ok") calls (for
        metrics that are not exported; exported ones take each run through handler_time)."""
        self.inc("handled_ok", topic, count)
        self._handler.observe_many(count, seconds, longest)

    def handler_time(self, topic: str, seconds: float) -> None:
        self._handler.observe(seconds)
        if self._prom:
            self._prom_handler.labels(topic).observe(seconds)

    def lag(self, topic: str, partition: int, lag: int) -> None:
        self._lag[(topic, partition)] = lag
        if self._prom:
            self._prom_lag.labels(topic, str(partition)).set(lag)

    def snapshot(self) -> MetricsSnapshot:
        return MetricsSnapshot(
            counters={k: dict(v) for k, v in self._counts.items()},
            batch_sizes=Summary(self._batch.count, self._batch.total, self._batch.max),
            handler_seconds=Summary(self._handler.count, self._handler.total, self._handler.max),
            consumer_lag=dict(self._lag),
        )

"""What a scrape sees, and the HTTP server that serves it.

`ExporterCollector` is a prometheus_client custom collector: at each scrape it hands out the
families of every cluster's last completed collection (merged by name: the exposition format
wants one block per family) and the exporter's own per-cluster families, computed from plain
attributes. Nothing here touches Kafka, so a scrape answers while collections hang.

The server runs in its own threads (wsgiref, one thread per request), apart from the event
loop that collects: `/metrics` (each cluster's families as rendered by prometheus_client when
its collection completed, joined once per change of any cluster's collection; see
`exposition`) and `/healthz`
(200 when every cluster was collected within 3 intervals, else 503; a JSON body per cluster).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.exporter.collection import ClusterCollection


class ExporterCollector(Collector):
    """Every cluster's last collection (unless `own_only`), plus the per-cluster
    `nexus_exporter_*` families and `kafka_consumergroup_poll_time_ms`."""

    def __init__(self, clusters: Sequence[ClusterCollection], own_only: bool = False) -> None:
        self.clusters = list(clusters)
        self.own_only = own_only

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for cluster in () if self.own_only else self.clusters:
            last = cluster.last  # one read: the object is swapped whole, never mutated
            for family in last.families if last is not None else ():
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(family.name, family.documentation,
                                                        family.type)
                into.samples.extend(family.samples)
        yield from merged.values()
        yield from self._own()

    def _own(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("nexus_exporter_cluster_up", "1 when the cluster's last "
                               "collection succeeded and none has run longer than an "
                               "interval since; 0 otherwise.", labels=["cluster_name"])
        took = GaugeMetricFamily("nexus_exporter_collection_duration_seconds",
                                 "How long the last completed collection took.",
                                 labels=["cluster_name"])
        poll = GaugeMetricFamily("kafka_consumergroup_poll_time_ms",
                                 "How long the last completed collection took, in ms "
                                 "(kafka-lag-exporter's name).", labels=["cluster_name"])
        success = GaugeMetricFamily("nexus_exporter_last_success_timestamp_seconds",
                                    "When the last successful collection finished (Unix time).",
                                    labels=["cluster_name"])
        partial = GaugeMetricFamily("nexus_exporter_collection_errors",
                                    "Items the last completed collection could not read (a "
                                    "group's or a partition's offsets): their series are "
                                    "absent.", labels=["cluster_name"])
        failures = GaugeMetricFamily("nexus_exporter_collection_failures",
                                     "Failed collections since the exporter started.",
                                     labels=["cluster_name"])
        now = time.monotonic()
        for cluster in self.clusters:
            up.add_metric([cluster.name], 1 if cluster.up(now) else 0)
            failures.add_metric([cluster.name], cluster.failures)
            last = cluster.last
            if last is not None:
                took.add_metric([cluster.name], last.duration_s)
                poll.add_metric([cluster.name], last.duration_s * 1000)
                success.add_metric([cluster.name], last.finished_at)
                partial.add_metric([cluster.name], last.errors)
        yield from (up, took, poll, success, partial, failures)


def health_report(clusters: Sequence[ClusterCollection], wall_now: float) -> tuple[bool, dict]:
    """(every cluster fresh, the /healthz body)."""
    body: dict[str, Any] = {}
    for c in clusters:
        body[c.name] = {
            "fresh": c.fresh(wall_now), "up": c.up(),
            "last_success": None if c.last is None else c.last.finished_at,
            "age_s": None if c.last is None else round(wall_now - c.last.finished_at, 3),
            "interval_s": c.interval_s, "error": c.last_error,
        }
    ok = all(v["fresh"] for v in body.values())
    return ok, {"status": "ok" if ok else "stale", "clusters": body}


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


class _Joined:
    """The clusters' blocks joined into one text, kept until a cluster's collection changes
    (a scrape between collections, the usual case, joins nothing)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[int, ...] = ()
        self._text = b""
        self._held: list[object] = []  # the collections the key's ids belong to

    def text(self, clusters: Sequence[ClusterCollection]) -> bytes:
        lasts = [cluster.last for cluster in clusters]  # one read each: swapped whole
        key = tuple(id(last) for last in lasts)
        with self._lock:
            if key == self._key:
                return self._text
        heads: dict[str, str] = {}
        bodies: dict[str, list[str]] = {}
        for last in lasts:
            for name, (head, body) in (last.blocks if last is not None else {}).items():
                heads.setdefault(name, head)
                bodies.setdefault(name, []).append(body)
        text = "".join(heads[n] + "".join(bodies[n]) for n in heads).encode()
        with self._lock:
            self._key, self._text, self._held = key, text, lasts
        return text


def exposition(clusters: Sequence[ClusterCollection], own: CollectorRegistry,
               joined: _Joined | None = None) -> bytes:
    """/metrics: every cluster's pre-rendered blocks, one block per family, then the
    exporter's own families and process metrics (rendered now: a few samples)."""
    return (joined or _Joined()).text(clusters) + generate_latest(own)


def _app(own: CollectorRegistry, clusters: Sequence[ClusterCollection],
         clock: Callable[[], float]) -> Callable[..., Any]:
    joined = _Joined()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            ok, body = health_report(clusters, clock())
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        if path in ("/metrics", "/"):
            body = exposition(clusters, own, joined)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST),
                                      ("Content-Length", str(len(body)))])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: /metrics and /healthz are served here\n"]

    return app


class MetricsServer:
    """`/metrics` and `/healthz` on host:port (port 0: a free one, see `address`)."""

    def __init__(self, host: str, port: int, clusters: Sequence[ClusterCollection],
                 clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=False)  # what is rendered per scrape
        self.registry.register(ExporterCollector(clusters, own_only=True))
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes and CPU
        self._server = make_server(host, port, _app(self.registry, clusters, clock),
                                   _ThreadingServer, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http",
                                        daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

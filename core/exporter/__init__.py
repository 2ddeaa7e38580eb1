"""The Prometheus exporter: many clusters collected concurrently, served from the last
completed collection (collection.py: the loop per cluster; families.py: the metrics;
traffic.py: Nexus traffic; http.py: /metrics and /healthz; run.py: the process)."""

from core.exporter.collection import ClusterCollection, ClusterTarget, Collected
from core.exporter.families import FamilyOptions, build_families
from core.exporter.http import ExporterCollector, MetricsServer
from core.exporter.run import Exporter
from core.exporter.traffic import ClusterTraffic

__all__ = ["ClusterCollection", "ClusterTarget", "ClusterTraffic", "Collected", "Exporter",
           "ExporterCollector", "FamilyOptions", "MetricsServer", "build_families"]

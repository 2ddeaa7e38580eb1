"""One cluster's collection loop: a ClusterMonitor refresh, the exact time lags, the metric
families built from them, swapped in as one object when complete.

Each cluster runs in its own asyncio task on its own schedule (a collection starts one
interval after the previous one started, or at once when it overran), so a cluster that is
down or slow delays nobody else. A scrape reads `Collected` objects only; it never waits on
Kafka.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client.core import Metric

from core.cluster.time_lag_exact import CommittedRecordTimes
from core.config.settings import ConnectionSettings
from core.engine.monitor import ClusterMonitor, MonitorView
from core.errors import NexusError
from core.exporter.families import FamilyOptions, build_families, lagging_keys, render_blocks
from core.exporter.traffic import ClusterTraffic

log = logging.getLogger("nexus_tui.exporter")


@dataclass(frozen=True)
class ClusterTarget:
    """A cluster to collect: its label value (a context name or the bootstrap, never a
    secret) and how to reach it."""

    name: str
    settings: ConnectionSettings


@dataclass(frozen=True)
class Collected:
    """The last completed collection of a cluster (replaced whole, never mutated)."""

    families: list[Metric]
    finished_at: float  # wall clock
    duration_s: float
    #: the families as exposition text, name -> (HELP/TYPE lines, samples): see render_blocks
    blocks: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: items the snapshot could not read (a group's offsets, a partition's offsets...): their
    #: series are absent from this collection
    errors: int = 0


@dataclass
class ClusterCollection:
    """Collects one cluster every `interval_s`; `state()` says what a scrape may show."""

    target: ClusterTarget
    interval_s: float
    topic_filter: str | None = None
    group_filter: str | None = None
    options: FamilyOptions = field(default_factory=FamilyOptions)
    #: watch the Nexus topics' traffic (core/exporter/traffic.py)
    traffic: bool = True
    clock: Callable[[], float] = time.time
    last: Collected | None = None
    last_error: str | None = None
    #: monotonic start of the collection in flight (None: none running)
    running_since: float | None = None
    collections: int = 0
    failures: int = 0

    def __post_init__(self) -> None:
        self.monitor = ClusterMonitor(self.target.settings, topic_filter=self.topic_filter,
                                      group_filter=self.group_filter, configs=False)
        self.timestamps = CommittedRecordTimes(
            self.target.settings, budget_s=max(0.5, min(self.interval_s, 10.0)))
        self.traffic_watch = ClusterTraffic(self.target.settings) if self.traffic else None
        self._ok = False  # the last collection that finished succeeded

    @property
    def name(self) -> str:
        return self.target.name

    def up(self, now_monotonic: float | None = None) -> bool:
        """Collected and current: the last collection succeeded and none has been running
        for longer than an interval since (a cluster that stops answering is down after at
        most two intervals, whatever its request timeout)."""
        now = time.monotonic() if now_monotonic is None else now_monotonic
        overdue = self.running_since is not None and now - self.running_since > self.interval_s
        return self._ok and not overdue

    def fresh(self, wall_now: float) -> bool:
        """Collected successfully within the last three intervals (/healthz)."""
        return self.last is not None and wall_now - self.last.finished_at <= 3 * self.interval_s

    async def collect_once(self) -> Collected:
        """One collection; raises NexusError (unreachable, bad filter...) when it fails."""
        started = time.perf_counter()
        view: MonitorView = await self.monitor.refresh()
        records = await self.timestamps.lookup(lagging_keys(view))
        now = self.clock()
        families = build_families(self.name, view, records, now, self.options)
        if self.traffic_watch is not None:
            await self.traffic_watch.follow(view.snapshot.topics)
            families += self.traffic_watch.families(self.name)
        blocks = render_blocks(families)
        return Collected(families, now, time.perf_counter() - started, blocks,
                         len(view.snapshot.errors))

    async def run(self) -> None:
        """Collect forever (until cancelled); log one line when the cluster goes down or
        comes back, not one per attempt."""
        while True:
            started = time.monotonic()
            self.running_since = started
            try:
                self.last = await self.collect_once()
                if not self._ok and self.collections:
                    log.warning("cluster %s: collected again", self.name)
                self._ok, self.last_error = True, None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is this cluster's, never the others'
                text = str(exc) if isinstance(exc, NexusError) else f"{type(exc).__name__}: {exc}"
                if self._ok or self.collections == 0:  # went down (or never up): once
                    log.warning("cluster %s: %s", self.name, text)
                self._ok, self.last_error = False, text
                self.failures += 1
            finally:
                self.running_since = None
                self.collections += 1
            await asyncio.sleep(max(0.0, started + self.interval_s - time.monotonic()))

    async def close(self) -> None:
        if self.traffic_watch is not None:
            await self.traffic_watch.close()
        await asyncio.to_thread(self.timestamps.close)
        await self.monitor.close()

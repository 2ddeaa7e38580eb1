"""The engine: the cluster monitor and the Nexus traffic watcher in one child process.

A long-lived caller (the TUI) keeps one `EngineProcess`; each `refresh` is one request and one
answer over the pipe (core/engine/child.py): the monitor's `MonitorView` (snapshot, lag
histories, time lags, Burrow status, rates) and the watcher's per-topic figures. In the child
(`python -m core.engine.process`, at a lower CPU priority) both run on one event loop: the
watcher's consumer tails the Nexus topics all the time, the monitor's snapshot runs while it
does, and a refresh only collects what each has.

The child keeps the monitor's histories between refreshes and reads consumer groups without
librdkafka (core/engine/group_reader.py), so a broker restart cannot abort it
(confluentinc/librdkafka#4605). When the child dies, that refresh says why and the next one
starts a new child: its histories start again from that moment, and its watcher, told every
topic again, counts from then on. A watcher that stops working is that refresh's error; the
engine starts a new watcher for the next one and keeps its histories.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.config.settings import ConnectionSettings
from core.engine.child import ChildService, run_child
from core.engine.monitor import ClusterMonitor, MonitorView
from core.errors import NexusError
from core.traffic.window import DeadLetter, ErrorReply, TopicTraffic


@dataclass(frozen=True)
class TrafficReadings:
    """One reading of the watcher: per-topic figures and the recent failures it saw."""

    stats: dict[str, TopicTraffic] = field(default_factory=dict)
    recent_errors: tuple[ErrorReply, ...] = ()
    recent_dead_letters: tuple[DeadLetter, ...] = ()


@dataclass(frozen=True)
class EngineReading:
    """What one refresh brings back: the monitor's view, the traffic figures, and how long
    the child's parts took (snapshot_s, observe_s: ClusterMonitor.timings)."""

    view: MonitorView
    traffic: TrafficReadings
    timings: dict[str, float]


@dataclass(frozen=True)
class EngineOptions:
    """The engine's set-up, its first message: the monitor's options (`ClusterMonitor`
    keywords), whether to watch every Nexus topic of the view, the watcher's options."""

    settings: ConnectionSettings
    monitor: dict[str, Any] = field(default_factory=dict)
    watch_nexus_topics: bool = True
    traffic: dict[str, Any] = field(default_factory=dict)


class EngineProcess(ChildService):
    """The engine child, seen from its parent."""

    doing = "refreshing the cluster view"
    role = "engine"

    def __init__(self, settings: ConnectionSettings, *, watch_nexus_topics: bool = True,
                 traffic_options: dict[str, Any] | None = None, **monitor_options: Any) -> None:
        # a refresh: metadata, two ListOffsets rounds, configs and the group reads, each
        # bounded by request_timeout_s, plus the child's start-up
        super().__init__("core.engine.process", EngineOptions(
            settings, monitor_options, watch_nexus_topics, traffic_options or {}),
            6 * settings.request_timeout_s + 10)
        self.settings = settings
        #: how long the child's last refresh took: snapshot_s, observe_s (ClusterMonitor)
        self.timings: dict[str, float] = {}
        self._watched: set[str] = set()  # topics asked for by name (`refresh(watch=...)`)

    async def refresh(self, *, watch: Iterable[str] = (),
                      positioned: bool = False) -> EngineReading:
        """The monitor's next view and the traffic figures.

        `watch`: topics to watch besides the view's Nexus topics (asked once, kept).
        `positioned`: first wait until the watcher sits at the end of every watched topic, so
        that records produced afterwards are counted (TrafficWatcher.positioned)."""
        fresh = not self.alive  # a new child (the first, or one after a death) knows nothing
        new = sorted(set(watch) - self._watched)
        self._watched.update(new)
        reading = await self.call(
            ("refresh", sorted(self._watched) if fresh else new, positioned))
        assert isinstance(reading, EngineReading)
        self.timings = reading.timings
        return reading


class Engine:
    """The child's side: a `ClusterMonitor` and a `TrafficWatcher` on one event loop."""

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self.monitor = ClusterMonitor(options.settings, abort_safe_groups=True,
                                      **options.monitor)
        self.topics: set[str] = set()  # every topic watched, told to each new watcher
        self.watcher: Any = None  # TrafficWatcher, started with the first topic

    @classmethod
    async def open(cls, options: EngineOptions) -> Engine:
        return cls(options)

    async def answer(self, request: Any) -> EngineReading:
        op, watch, positioned = request
        if op != "refresh":
            raise NexusError(f"the engine has no request {op!r}")
        # the watcher's consumer keeps tailing while the snapshot is taken; the topics asked
        # for by name get their watcher started alongside it
        watching = asyncio.ensure_future(self._watch(watch))
        try:
            view = await self.monitor.refresh()
        finally:
            await asyncio.wait([watching])
        watching.result()  # the watcher's start failed: this refresh says why
        if self.options.watch_nexus_topics:
            from core.wire.topic_names import is_dead_letter_topic, is_nexus_topic

            await self._watch(t for t in view.snapshot.topics
                              if is_nexus_topic(t) or is_dead_letter_topic(t))
        return EngineReading(view, await self._readings(positioned), self.monitor.timings)

    async def _watch(self, topics: Iterable[str]) -> None:
        new = set(topics) - self.topics
        self.topics |= new
        if self.watcher is None and self.topics:
            from core.traffic.watcher import TrafficWatcher

            watcher = TrafficWatcher(self.options.settings, **self.options.traffic)
            for topic in sorted(self.topics):
                watcher.watch(topic)
            try:
                await watcher.start()
            except BaseException:
                await watcher.stop()
                raise
            self.watcher = watcher
            return
        for topic in sorted(new):
            self.watcher.watch(topic)

    async def _readings(self, positioned: bool) -> TrafficReadings:
        watcher = self.watcher
        if watcher is None:
            return TrafficReadings()
        if positioned:
            await watcher.positioned()
        if watcher.failure is not None:  # replaced at the next refresh, told every topic
            self.watcher = None
            await watcher.stop()
            raise NexusError(f"watching Nexus traffic: the watcher stopped: {watcher.failure}")
        return TrafficReadings(watcher.stats(), tuple(watcher.recent_errors()),
                               tuple(watcher.recent_dead_letters()))

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
        await self.monitor.close()


if __name__ == "__main__":
    # run as `python -m`: this file is `__main__`, so the answers' classes are taken from
    # the module by its name, under which the parent unpickles them
    from core.engine import process

    run_child(process.Engine.open, process.EngineProcess.doing)

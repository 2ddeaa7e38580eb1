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
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from msgspec import Struct, field
from msgspec.structs import replace

from core.config.request import ConnectionRequest
from core.engine import ENGINE_MODULE
from core.engine.child import ChildService, run_child
from core.engine.monitor import ClusterMonitor, MonitorView
from core.errors import NexusError

if TYPE_CHECKING:  # the engine's first answer (the preview) does not need them
    from core.config.settings import ConnectionSettings
    from core.traffic.window import DeadLetter, ErrorReply, TopicTraffic

T = TypeVar("T")


#: how long the parent allows for the child's start-up, on top of the parts' deadlines
START_UP_S = 10.0


def part_deadlines(settings: ConnectionSettings | ConnectionRequest) -> tuple[float, float]:
    """(the monitor's, the watcher's) deadline for one refresh, each its own. The monitor's
    snapshot: metadata, two ListOffsets rounds, configs and the group reads, each bounded by
    request_timeout_s. The watcher's start (or its taking new topics): its consumer's
    metadata, assignment and end positions. For a connection not resolved yet, its bound
    (`max_timeout_s`) stands for the request_timeout_s it will have."""
    if isinstance(settings, ConnectionRequest):
        if settings.max_timeout_s is None:
            raise ValueError("an engine's unresolved connection needs its max_timeout_s")
        timeout = settings.max_timeout_s
    else:
        timeout = settings.request_timeout_s
    return 6 * timeout, 4 * timeout


async def within_deadline(work: Awaitable[T], seconds: float, what: str) -> T:
    """`work`'s result, or a NexusError naming `what` once it took longer than `seconds`."""
    try:
        return await asyncio.wait_for(work, seconds)
    except TimeoutError:
        raise NexusError(f"{what} took longer than {seconds:g} s") from None


class TrafficReadings(Struct, frozen=True):
    """One reading of the watcher: per-topic figures and the recent failures it saw."""

    stats: dict[str, TopicTraffic] = field(default_factory=dict)
    recent_errors: tuple[ErrorReply, ...] = ()
    recent_dead_letters: tuple[DeadLetter, ...] = ()


class EngineReading(Struct, frozen=True):
    """What one refresh brings back: the monitor's view, the traffic figures, and how long
    the child's parts took (snapshot_s, observe_s: ClusterMonitor.timings)."""

    view: MonitorView
    traffic: TrafficReadings
    timings: dict[str, float]


class EngineOptions(Struct, frozen=True):
    """The engine's set-up, its first message: the connection (settings, or a request the
    child resolves itself: `ConnectionRequest`), the monitor's options (`ClusterMonitor`
    keywords), whether to watch every Nexus topic of the view, the watcher's options."""

    settings: ConnectionSettings | ConnectionRequest
    monitor: dict[str, Any] = field(default_factory=dict)
    watch_nexus_topics: bool = True
    traffic: dict[str, Any] = field(default_factory=dict)


class EngineProcess(ChildService):
    """The engine child, seen from its parent.

    `settings` may be a `ConnectionRequest`: the child reads the configuration and resolves
    it (a bad configuration is then the first call's `ConfigError`), so that its caller need
    not have read it to start the engine; `resolved` gives the caller's own resolution later,
    for every child started after that."""

    doing = "refreshing the cluster view"
    role = "engine"

    def __init__(self, settings: ConnectionSettings | ConnectionRequest, *,
                 watch_nexus_topics: bool = True,
                 traffic_options: dict[str, Any] | None = None, **monitor_options: Any) -> None:
        # the monitor and the watcher each have their own deadline in the child (one slow
        # part does not eat the other's time); the parent waits for both, plus the child's
        # start-up
        deadlines = part_deadlines(settings)
        super().__init__(ENGINE_MODULE, EngineOptions(
            settings, monitor_options, watch_nexus_topics, traffic_options or {}),
            sum(deadlines) + START_UP_S)
        #: how long the child's last refresh took: snapshot_s, observe_s (ClusterMonitor)
        self.timings: dict[str, float] = {}
        self._watched: set[str] = set()  # topics asked for by name (`refresh(watch=...)`)

    def resolved(self, settings: ConnectionSettings) -> None:
        """The connection as the caller resolved it: what every child started from now on
        is given (the running one resolved the same request itself)."""
        self.hello = replace(self.hello, settings=settings)
        self.deadline_s = sum(part_deadlines(settings)) + START_UP_S

    async def preview(self) -> MonitorView:
        """The cluster's metadata as a view (ClusterMonitor.preview): what a new caller can
        show before the first refresh, which reads offsets and groups, is answered. Starts
        the child like any call."""
        view = await self.call(("preview",))
        assert isinstance(view, MonitorView)
        return view

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
        assert not isinstance(options.settings, ConnectionRequest), "resolved in `open`"
        self.options = options
        self.monitor = ClusterMonitor(options.settings, abort_safe_groups=True,
                                      **options.monitor)
        self.deadlines = part_deadlines(options.settings)  # (monitor's, watcher's)
        self.topics: set[str] = set()  # every topic watched, told to each new watcher
        self.watcher: Any = None  # TrafficWatcher, started with the first topic

    @classmethod
    async def open(cls, options: EngineOptions) -> Engine:
        if isinstance(options.settings, ConnectionRequest):
            _, settings = options.settings.resolve()
            options = replace(options, settings=settings)
        return cls(options)

    async def answer(self, request: Any) -> EngineReading | MonitorView:
        op, *args = request
        if op == "preview":
            return await within_deadline(self.monitor.preview(), self.deadlines[0],
                                 "reading the cluster's metadata")
        if op != "refresh":
            raise NexusError(f"the engine has no request {op!r}")
        watch, positioned = args
        monitor_s, watcher_s = self.deadlines
        # the watcher's consumer keeps tailing while the snapshot is taken; the topics asked
        # for by name get their watcher started alongside it
        watching = asyncio.ensure_future(
            within_deadline(self._watch(watch), watcher_s, "starting the traffic watcher"))
        try:
            view = await within_deadline(self.monitor.refresh(), monitor_s, "the cluster snapshot")
        finally:
            await asyncio.wait([watching])
        watching.result()  # the watcher's start failed: this refresh says why
        if self.options.watch_nexus_topics:
            from core.wire.topic_names import is_dead_letter_topic, is_nexus_topic

            await within_deadline(self._watch(t for t in view.snapshot.topics
                                      if is_nexus_topic(t) or is_dead_letter_topic(t)),
                          watcher_s, "starting the traffic watcher")
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

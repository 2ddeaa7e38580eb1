"""Where the TUI's data comes from: a live cluster through the core, or a recorded pulse.

`Pulse` is everything one refresh produces. `LiveSource` builds it on the core loop from one
answer of the engine process (core/engine/process.py): the cluster monitor's view (snapshot +
lag health) and the traffic watcher's figures (Nexus error rates).
`RecordedSource` replays fixed pulses: only for deterministic screenshots, never as proof of
Kafka behaviour.

A source also hands the screens what they plan and change with (`changes`: the topic or group
administration; `dead_letters`: the dead-letter reads and the redrive): on a live cluster the
core's, on a recorded one plans made from the recorded data and nothing to apply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from msgspec import Struct, field

from core.config.request import ConnectionRequest
from core.engine.monitor import MonitorView
from core.engine.process import EngineProcess
from nexus_tui.coreloop import CoreLoop

if TYPE_CHECKING:
    from core.cluster.change import Changes
    from core.cluster.dead_letter_store import DeadLetterStore
    from core.config.settings import ConnectionSettings

C = TypeVar("C", bound="Changes")


class Pulse(Struct, frozen=True):
    """One refresh: the monitor's view plus Nexus traffic figures (when watched)."""

    view: MonitorView
    traffic: dict[str, Any] = field(default_factory=dict)  # topic -> TopicTraffic
    recent_errors: tuple[Any, ...] = ()
    recent_dead_letters: tuple[Any, ...] = ()
    fetched_at: float = field(default_factory=time.time)
    #: the cluster's metadata only (topics, partitions, brokers): shown until the first
    #: refresh brings offsets, lag and traffic
    preview: bool = False

    @property
    def error_replies_per_s(self) -> float | None:
        rates = [getattr(t, "error_replies_per_s", None) for t in self.traffic.values()]
        known = [r for r in rates if r is not None]
        return sum(known) if known else None

    @property
    def messages_per_s(self) -> float | None:
        return self.view.cluster_msgs_per_s


class DataSource(Protocol):
    settings: ConnectionSettings
    live: bool

    async def refresh(self) -> Pulse: ...

    async def close(self) -> None: ...

    def changes(self, kind: type[C]) -> C:
        """The administration of `kind` (TopicAdmin, GroupAdmin): its plans and applies."""
        ...

    def dead_letters(self) -> DeadLetterStore: ...


class LiveSource:
    """A real cluster, through the engine child process driven from the core loop
    (core/engine/process.py: snapshots, lag histories and health, Nexus traffic), so that
    neither its work nor a crash of it reaches the UI's process. A dead engine is replaced
    at the next refresh.

    `settings` may be a `ConnectionRequest` (the TUI as launched): the engine child resolves
    it for itself, and this process when `settings` is first asked for (the app does so once
    its first view is painted: NexusApp.configure)."""

    live = True

    def __init__(self, settings: ConnectionSettings | ConnectionRequest, core: CoreLoop,
                 watch_traffic: bool = True, **monitor_options: Any) -> None:
        self.request = settings if isinstance(settings, ConnectionRequest) else None
        self._settings = None if isinstance(settings, ConnectionRequest) else settings
        self.core = core
        self.watch_traffic = watch_traffic
        # `monitor_options`: ClusterMonitor's (e.g. topic_filter, group_filter); time lags
        # are exact where the record at the committed offset can be read, read while the
        # refreshes go on (a refresh never waits for them)
        self.engine = EngineProcess(settings, watch_nexus_topics=watch_traffic, **{
            "exact_time_lag": True, "exact_in_background": True, **monitor_options})
        self._preview: Future[MonitorView] | None = None

    @property
    def settings(self) -> ConnectionSettings:
        """The connection's settings: resolved from the request when first asked for (a
        ConfigError then says what is wrong with the configuration)."""
        if self._settings is None:
            assert self.request is not None
            self.settle(self.request.resolve()[1])
        assert self._settings is not None
        return self._settings

    def settle(self, settings: ConnectionSettings) -> None:
        """The request's settings, resolved: this process's, and those of every engine child
        started from now on."""
        self._settings = settings
        self.engine.resolved(settings)

    def start(self) -> None:
        """Start the engine child and ask it for the cluster's metadata now, on the core
        loop, while the caller goes on (the TUI imports and builds its screens meanwhile)."""
        if self._preview is None:
            self._preview = self.core.submit(self.engine.preview())

    async def preview(self) -> Pulse:
        """The cluster's topics and partitions from its metadata (`Pulse.preview`), before
        the first refresh: offsets, lag and traffic come with that one."""
        self.start()
        assert self._preview is not None
        view = await asyncio.wrap_future(self._preview)
        return Pulse(view, preview=True)

    async def refresh(self) -> Pulse:
        return await self.core.call(self._refresh())

    async def _refresh(self) -> Pulse:
        reading = await self.engine.refresh()
        traffic = reading.traffic
        return Pulse(reading.view, dict(traffic.stats), traffic.recent_errors,
                     traffic.recent_dead_letters)

    async def close(self) -> None:
        await self.core.call(self.engine.close())

    def changes(self, kind: type[C]) -> C:
        return kind(self.settings)

    def dead_letters(self) -> DeadLetterStore:
        from core.cluster.dead_letter_store import ClusterDeadLetters

        return ClusterDeadLetters(self.settings)


class RecordedSource:
    """Replays recorded pulses in order (the last one repeats). For screenshots only."""

    live = False

    def __init__(self, pulses: Sequence[Pulse], settings: ConnectionSettings | None = None):
        from core.config.settings import ConnectionSettings

        self.settings = settings or ConnectionSettings(bootstrap="recorded:9092")
        self._pulses = list(pulses)
        self._i = 0

    async def refresh(self) -> Pulse:
        pulse = self._pulses[min(self._i, len(self._pulses) - 1)]
        self._i += 1
        return pulse

    async def close(self) -> None:
        return None

    @property
    def pulse(self) -> Pulse:
        """The last pulse replayed (the first one before any refresh)."""
        return self._pulses[max(0, min(self._i, len(self._pulses)) - 1)]

    def changes(self, kind: type[C]) -> C:
        """Plans from the last replayed snapshot; applying one is refused."""
        from nexus_tui.recorded_admin import recorded_changes

        return recorded_changes(kind, self.settings, self.pulse.view.snapshot)

    def dead_letters(self) -> DeadLetterStore:
        """The recorded dead-letter topics' letters; a redrive is planned, never run."""
        from nexus_tui.recorded_admin import RecordedDeadLetters

        return RecordedDeadLetters(self.settings, self.pulse.view.snapshot)

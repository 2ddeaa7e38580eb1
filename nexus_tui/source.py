"""Where the TUI's data comes from: a live cluster through the core, or a recorded pulse.

`Pulse` is everything one refresh produces. `LiveSource` builds it on the core loop from
the cluster monitor (snapshot + lag health) and the traffic watcher (Nexus error rates), each
run in a child process of its own.
`RecordedSource` replays fixed pulses: only for deterministic screenshots, never as proof of
Kafka behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from core.config.settings import ConnectionSettings
from core.engine.monitor import MonitorView
from core.engine.monitor_process import MonitorProcess
from nexus_tui.coreloop import CoreLoop

if TYPE_CHECKING:
    from core.engine.traffic_process import TrafficProcess


@dataclass(frozen=True)
class Pulse:
    """One refresh: the monitor's view plus Nexus traffic figures (when watched)."""

    view: MonitorView
    traffic: dict[str, Any] = field(default_factory=dict)  # topic -> TopicTraffic
    recent_errors: tuple[Any, ...] = ()
    recent_dead_letters: tuple[Any, ...] = ()
    fetched_at: float = field(default_factory=time.time)

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


class LiveSource:
    """A real cluster, through child processes driven from the core loop: the cluster
    monitor (core/engine/monitor_process.py: snapshots, lag histories and health; it reads consumer
    groups through a child of its own, core/engine/group_reader.py) and the Nexus traffic watcher
    (core/engine/traffic_process.py), so that neither their work nor a librdkafka abort reaches the
    UI's process."""

    live = True

    def __init__(self, settings: ConnectionSettings, core: CoreLoop,
                 watch_traffic: bool = True) -> None:
        self.settings = settings
        self.core = core
        self.monitor = MonitorProcess(settings)
        self.watch_traffic = watch_traffic
        self.traffic: TrafficProcess | None = None

    async def refresh(self) -> Pulse:
        return await self.core.call(self._refresh())

    async def _refresh(self) -> Pulse:
        view = await self.monitor.refresh()
        if not self.watch_traffic:
            return Pulse(view)
        from core.engine.traffic_process import TrafficProcess
        from core.wire.topic_names import is_dead_letter_topic, is_nexus_topic

        if self.traffic is None:
            self.traffic = TrafficProcess(self.settings)
        readings = await self.traffic.readings(
            t for t in view.snapshot.topics if is_nexus_topic(t) or is_dead_letter_topic(t))
        return Pulse(view, dict(readings.stats), readings.recent_errors,
                     readings.recent_dead_letters)

    async def close(self) -> None:
        if self.traffic is not None:
            traffic, self.traffic = self.traffic, None
            await self.core.call(traffic.close())
        await self.core.call(self.monitor.close())


class RecordedSource:
    """Replays recorded pulses in order (the last one repeats). For screenshots only."""

    live = False

    def __init__(self, pulses: Sequence[Pulse], settings: ConnectionSettings | None = None):
        self.settings = settings or ConnectionSettings(bootstrap="recorded:9092")
        self._pulses = list(pulses)
        self._i = 0

    async def refresh(self) -> Pulse:
        pulse = self._pulses[min(self._i, len(self._pulses) - 1)]
        self._i += 1
        return pulse

    async def close(self) -> None:
        return None

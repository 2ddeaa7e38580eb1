"""A `TrafficWatcher` in a child process, for a long-lived caller that must stay responsive.

Tailing every Nexus topic of a big cluster (5,000 partitions in bench/tui.py) keeps an aiokafka
consumer busy decoding records and holding ~30,000 long-lived objects for its partitions. In
the TUI's process that work competed with the UI for Python's one running thread, and every
full garbage collection walked those objects (BENCHMARKS.md §6). In a child (`python -m
core.engine.traffic_process`) it does neither; the parent gets per-topic figures, a few hundred
small objects, once per refresh.

The watcher is the same (core/traffic/watcher.py): no group, no commits, read from the topics' end.
When the child dies or its watcher stops working, that refresh says why and the next one starts
a new child, told every topic again; the figures then count from that moment.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.config.settings import ConnectionSettings
from core.engine.child import ChildService, background_priority, read_async, stdio_streams, write
from core.errors import NexusError
from core.traffic.window import DeadLetter, ErrorReply, TopicTraffic


@dataclass(frozen=True)
class TrafficReadings:
    """One reading of the watcher: per-topic figures and the recent failures it saw."""

    stats: dict[str, TopicTraffic]
    recent_errors: tuple[ErrorReply, ...]
    recent_dead_letters: tuple[DeadLetter, ...]


class TrafficProcess(ChildService):
    """`TrafficWatcher(settings, topics, **options)` run in a child process."""

    doing = "watching Nexus traffic"
    role = "traffic watcher"

    def __init__(self, settings: ConnectionSettings, **options: Any) -> None:
        # a reading is answered at once; starting (metadata, consumer) takes a few requests
        super().__init__("core.engine.traffic_process", (settings, options),
                         3 * settings.request_timeout_s + 10)
        self.settings = settings
        self._topics: set[str] = set()

    async def readings(self, topics: Iterable[str] = (), *,
                       positioned: bool = False) -> TrafficReadings:
        """Watch `topics` from now on (those not watched yet), then read the figures.

        `positioned`: first wait until the watcher sits at the end of every watched topic, so
        that records produced afterwards are counted (TrafficWatcher.positioned)."""
        fresh = not self.alive
        new = sorted(set(topics) - self._topics)
        self._topics.update(new)
        # a new child (the first, or one after a death) knows no topic yet
        stats, errors, dead = await self.call(
            ("read", sorted(self._topics) if fresh else new, positioned))
        return TrafficReadings(stats, tuple(errors), tuple(dead))


async def _serve() -> None:
    """The child: (settings, options) first, then ("read", topics to add, wait until
    positioned) requests until its stdin closes. A watcher that stopped working is reported
    once, then the child exits."""
    from core.traffic.watcher import TrafficWatcher

    background_priority()
    reader, out = await stdio_streams()
    settings, options = await read_async(reader)
    watcher = TrafficWatcher(settings, **options)
    started = False
    try:
        while True:
            try:
                op, topics, positioned = await read_async(reader)
            except asyncio.IncompleteReadError:
                return
            healthy = True
            try:
                assert op == "read", op
                for topic in topics:
                    watcher.watch(topic)
                if not started:
                    await watcher.start()
                    started = True
                if positioned:
                    await watcher.positioned()
                if watcher.failure is not None:
                    healthy = False
                    raise NexusError(f"watching Nexus traffic: the watcher stopped: "
                                     f"{watcher.failure}")
                answer: tuple[bool, Any] = (True, (
                    watcher.stats(), watcher.recent_errors(), watcher.recent_dead_letters()))
            except NexusError as exc:
                answer = (False, exc)
            except Exception as exc:  # noqa: BLE001 - a bug: the caller shows it as one line
                healthy = False
                answer = (False, NexusError(
                    f"watching Nexus traffic: {type(exc).__name__}: {exc}"))
            write(out, answer)
            if not healthy:
                return
    finally:
        await watcher.stop()


if __name__ == "__main__":
    asyncio.run(_serve())
    sys.exit(0)

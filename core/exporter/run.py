"""The exporter process: one collection task per cluster on one event loop, the HTTP server in
its own threads, until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence

from core.exporter.collection import ClusterCollection, ClusterTarget
from core.exporter.families import FamilyOptions
from core.exporter.http import MetricsServer


class Exporter:
    """Clusters collected concurrently, served at host:port."""

    def __init__(self, targets: Sequence[ClusterTarget], *, host: str = "0.0.0.0",
                 port: int = 8000, interval_s: float = 10.0, topic_filter: str | None = None,
                 group_filter: str | None = None,
                 options: FamilyOptions | None = None, traffic: bool = True) -> None:
        self.collections = [
            ClusterCollection(t, interval_s, topic_filter=topic_filter,
                              group_filter=group_filter, options=options or FamilyOptions(),
                              traffic=traffic)
            for t in targets]
        self.server = MetricsServer(host, port, self.collections)

    async def run(self, started: Callable[[MetricsServer], None] | None = None) -> None:
        """Serve and collect until SIGTERM or SIGINT (or cancellation)."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        self.server.start()
        tasks = [asyncio.create_task(c.run(), name=f"collect {c.name}")
                 for c in self.collections]
        try:
            if started is not None:
                started(self.server)
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.server.stop()
            await asyncio.gather(*(c.close() for c in self.collections),
                                 return_exceptions=True)

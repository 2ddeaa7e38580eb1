"""A `ClusterMonitor` in a child process, for a long-lived caller that must stay responsive.

A refresh of a big cluster is mostly Python: 5,000 partitions and 10,000 group commits turned
into lag histories, time lags, Burrow verdicts and rates (`LagTracker.observe`, ~330 ms per
refresh in bench/tui.py). In the TUI's process that thread took Python's one running slot from
the UI for a third of a second per refresh, and each hand-over of that slot waited on the
operating system to run the other thread: on 2 busy cores, stalls of the UI's loop of 40-60 ms
(BENCHMARKS.md §6). In a child (`python -m core.engine.monitor_process`) at a lower CPU priority the
work neither holds the UI's interpreter nor wins the CPU from it; the parent receives the
finished `MonitorView`, one pickle per refresh.

The child keeps the monitor's histories between refreshes, as the in-process monitor did, and
reads consumer groups through its own group reader (core/engine/group_reader.py), so a librdkafka
abort there (confluentinc/librdkafka#4605) costs one refresh, not the histories. When the
monitor child itself dies, that refresh says why and the next one starts a new child: its
histories (time lag, rates, Burrow status) start again from that moment.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, BinaryIO

from core.config.settings import ConnectionSettings
from core.engine.child import ChildService, background_priority, read, write
from core.engine.monitor import ClusterMonitor, MonitorView
from core.errors import NexusError


class MonitorProcess(ChildService):
    """`ClusterMonitor(settings, **options)` run in a child process; same `refresh`, `close`
    and `timings`."""

    doing = "refreshing the cluster view"
    role = "monitor"
    close_grace_s = 5.0  # time to stop its own group reader before it is killed

    def __init__(self, settings: ConnectionSettings, **options: Any) -> None:
        # a refresh: metadata, two ListOffsets rounds, configs and the group reader's three
        # requests, each bounded by request_timeout_s, plus the child's start-up
        super().__init__("core.engine.monitor_process", (settings, options),
                         6 * settings.request_timeout_s + 10)
        self.settings = settings
        #: how long the child's last refresh took: snapshot_s, observe_s (ClusterMonitor)
        self.timings: dict[str, float] = {}

    async def refresh(self) -> MonitorView:
        view, self.timings = await self.call("refresh")
        assert isinstance(view, MonitorView)
        return view


def _serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The child: (settings, options) first, then one view per "refresh" until stdin closes;
    then it stops its group reader."""
    background_priority()
    settings, options = read(stdin)
    monitor = ClusterMonitor(settings, isolate_groups=True, **options)
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                op = read(stdin)
            except EOFError:
                return
            try:
                assert op == "refresh", op
                view = loop.run_until_complete(monitor.refresh())
                answer: tuple[bool, Any] = (True, (view, monitor.timings))
            except NexusError as exc:
                answer = (False, exc)
            except Exception as exc:  # noqa: BLE001 - a bug: the caller shows it as one line
                answer = (False, NexusError(
                    f"refreshing the cluster view: {type(exc).__name__}: {exc}"))
            write(stdout, answer)
    finally:
        loop.run_until_complete(monitor.close())
        loop.close()


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)

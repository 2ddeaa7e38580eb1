"""The engine's refresh: the monitor and the watcher each have their own deadline in the child,
and the parent waits for both plus the child's start-up (no broker needed: pure timing)."""

from __future__ import annotations

import asyncio

import pytest

from core.config.settings import ConnectionSettings
from core.engine.process import START_UP_S, EngineProcess, part_deadlines, within_deadline
from core.errors import NexusError


def test_each_part_has_its_own_deadline_and_the_parent_waits_for_both():
    settings = ConnectionSettings(bootstrap="127.0.0.1:1", request_timeout_s=2.0)
    monitor_s, watcher_s = part_deadlines(settings)
    assert monitor_s == 12.0 and watcher_s == 8.0
    assert EngineProcess(settings).deadline_s == monitor_s + watcher_s + START_UP_S


async def test_a_part_past_its_deadline_is_named_in_one_error():
    async def slow() -> int:
        await asyncio.sleep(5)
        return 1

    async def quick() -> int:
        return 2

    with pytest.raises(NexusError, match="starting the traffic watcher took longer than 0.05 s"):
        await within_deadline(slow(), 0.05, "starting the traffic watcher")
    assert await within_deadline(quick(), 0.05, "the cluster snapshot") == 2

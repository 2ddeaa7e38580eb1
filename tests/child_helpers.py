"""Helpers for the tests of our child processes (core/engine/child.py services)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Coroutine
from typing import Any

import psutil

from core.engine.child import ChildService
from tests.kafka_helpers import wait_until


async def call_held_in_child(service: ChildService, call: Coroutine[Any, Any, Any]
                             ) -> asyncio.Task[Any]:
    """Start `call` with the service's child stopped (SIGSTOP) and return it once its request
    is written: the service holds its lock from the write to the answer, so whatever the test
    does next (a signal, a cancel) lands while the call waits on the child. Sending SIGCONT
    is the test's."""
    pid = service.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    task = asyncio.create_task(call)
    await wait_until(service._lock.locked, 10, "the request written")
    return task


def gone(pid: int) -> bool:
    """The process has exited (a zombie not reaped yet counts as gone)."""
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"

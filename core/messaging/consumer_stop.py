"""Stopping an aiokafka consumer without its own cancellations escaping.

aiokafka 0.14's `Fetcher.close` cancels its pending fetch tasks and awaits them unguarded: a
fetch sitting in its retry backoff (a broker just went away) raises `CancelledError` out of
`AIOKafkaConsumer.stop()` (aio-libs/aiokafka#647, open). That cancels whoever was stopping the
consumer, though nobody cancelled them, and skips the rest of `stop()`: the client's connections
stay open. Seen in `tests/test_faults.py` when the coordinator broker is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from core import compat


async def stop_consumer(consumer: Any) -> None:
    """`await consumer.stop()`; a `CancelledError` that comes from aiokafka's own fetch tasks
    (not from cancelling the caller) is absorbed and the client closed as `stop()` would
    have. Other errors propagate as before."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # the caller is being cancelled: go on
            raise
        with contextlib.suppress(Exception):
            await compat.close_client(consumer)  # what stop() did not reach

"""stop_consumer (core/messaging/consumer_stop.py): aiokafka's own cancellation out of `stop()`
(aio-libs/aiokafka#647) does not cancel the caller; the caller's real cancellation still does.

The consumer here is a stand-in that fails `stop()` the way aiokafka 0.14's `Fetcher.close` does
(awaiting a fetch task it cancelled): what is tested is the wrapper's decision, not Kafka. The
real case (a fetch in its retry backoff after its broker was SIGKILLed) runs in
tests/test_faults.py."""

from __future__ import annotations

import asyncio

import pytest

from core.messaging.consumer_stop import stop_consumer


class _Client:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class _ConsumerWhoseFetcherCloseRaises:
    """`stop()` awaits a task it cancelled, as Fetcher.close does; `gate` holds it first."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self._client = _Client()
        self.gate = gate

    async def stop(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        pending = asyncio.ensure_future(asyncio.sleep(10))  # a fetch in its retry backoff
        await asyncio.sleep(0)
        pending.cancel()
        await pending  # raises CancelledError into stop()'s caller


async def test_aiokafkas_own_cancellation_is_absorbed_and_the_client_closed():
    consumer = _ConsumerWhoseFetcherCloseRaises()
    with pytest.raises(asyncio.CancelledError):  # what a bare `await consumer.stop()` does
        await consumer.stop()
    await stop_consumer(consumer)  # returns: the caller was not cancelled
    assert consumer._client.closed
    assert not asyncio.current_task().cancelling()


async def test_the_callers_own_cancellation_still_cancels_it():
    gate = asyncio.Event()
    consumer = _ConsumerWhoseFetcherCloseRaises(gate)
    stopping = asyncio.create_task(stop_consumer(consumer))
    await asyncio.sleep(0)  # stopping waits at the gate
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert stopping.cancelled() and not consumer._client.closed

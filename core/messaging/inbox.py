"""Pending requests waiting for their reply, matched by request id.

Unlike the Go inbox, every entry is removed when its wait ends (reply, error, timeout or
cancellation), so the map never grows with requests that were never answered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core.errors import NexusError
from core.wire.envelope import Envelope, MessageKind


class ReplyTimeout(NexusError):
    """No reply arrived within the timeout (`delivery`: the request's ack, when sent)."""

    delivery: Any = None


class RemoteError(NexusError):
    """The remote handler answered with an error reply; `reply` is that envelope."""

    def __init__(self, message: str, reply: Envelope):
        super().__init__(message)
        self.reply = reply
        self.delivery: Any = None  # the request's ack, set by the requester
        self.latency_ms: float | None = None


class ReplyInbox:
    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[Envelope]] = {}
        self.late_replies = 0  # replies that came after their wait ended (dropped)

    def __len__(self) -> int:
        return len(self._pending)

    def expect(self, request_id: str) -> asyncio.Future[Envelope]:
        fut: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        return fut

    def discard(self, request_id: str) -> None:
        """Forget a wait that will not happen (the request could not be sent)."""
        self._pending.pop(request_id, None)

    def resolve(self, envelope: Envelope) -> bool:
        """Hand a reply to its waiter; False when nobody waits for it (late or not ours)."""
        fut = self._pending.pop(envelope.request_id, None) if envelope.request_id else None
        if fut is None or fut.done():
            if envelope.request_id:
                self.late_replies += 1
            return False
        fut.set_result(envelope)
        return True

    async def wait(
        self, request_id: str, fut: asyncio.Future[Envelope], timeout: float
    ) -> Envelope:
        """Await the reply to `request_id`; raise ReplyTimeout or RemoteError; always clean up."""
        started = time.monotonic()
        try:
            reply = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise ReplyTimeout(
                f"no reply to {request_id} within {timeout:g} s"
            ) from None
        finally:
            self._pending.pop(request_id, None)
        if reply.kind is MessageKind.ERROR_REPLY:
            waited = time.monotonic() - started
            raise RemoteError(
                f"error reply after {waited * 1000:.0f} ms: {reply.error_message}", reply
            )
        return reply

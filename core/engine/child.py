"""Work done in a child process of ours, spoken to in length-prefixed pickles over its
stdin/stdout: the parent's side (`ChildService`) and the child's (`serve`), one of each for
every child.

Two reasons to move core work out of a long-lived process (the TUI):

* **The caller stays responsive.** Python runs one thread at a time and its cyclic garbage
  collector walks every live object of the process: the refresh's Python work (lag histories,
  time lags, Burrow verdicts) and the traffic watcher's consumer state would otherwise share
  the UI's interpreter and its collections.
* **A crash stays in the child**, and the next call starts a new one.

:class:`ChildService` is the parent's side: one request at a time, an answer or the reason the
child died (as a `NexusError` naming what it was doing), and a new child on the next call (also
after a call was cancelled mid-request: that child is stopped, its answer would be out of step).
:func:`serve` is the child's side: it reads its first message (what to set up), builds its
`Served` from it and answers each request in turn until its stdin closes, at a lower CPU
priority (`background_priority`) once its first answer is out (the one its caller waits for
to show anything), on an event loop that the served object's own tasks share.
Pickles only ever travel between a process and the child it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO, Protocol

from core.engine.spawn import HEADER, ChildProcess, frame, take_early
from core.errors import NexusError

#: how much lower a child's CPU priority is than its parent's (`nice`)
CHILD_NICENESS = 10


class ChildService:
    """A `python -m <module>` child: started on first use, restarted after it died."""

    #: what the child does, for errors: "reading consumer groups: the reader process ..."
    doing = "working"
    role = "helper"
    #: how long `close` lets the child finish on its own (stdin closed) before killing it:
    #: 0 for a child that holds nothing worth a goodbye
    close_grace_s = 0.0

    def __init__(self, module: str, hello: Any, deadline_s: float) -> None:
        self.module = module
        self.hello = hello  # the child's first message: what it sets up
        self.deadline_s = deadline_s  # longest wait for one answer before giving up on it
        self._proc: ChildProcess | None = None
        self._lock = asyncio.Lock()  # one request at a time on the pipe
        self.restarts = 0  # children started after one died
        self._out_of_step = False  # a call was cancelled mid-request: its answer is unread

    async def call(self, request: Any) -> Any:
        """Send `request`, return the child's answer (or raise the exception it answered)."""
        async with self._lock:
            try:
                proc = await self._child()
                stdout = await proc.stdout()
                proc.send(request)
                ok, value = await asyncio.wait_for(read_async(stdout), self.deadline_s)
            except (asyncio.IncompleteReadError, BrokenPipeError, ConnectionResetError,
                    TimeoutError) as exc:
                raise await self._died(exc) from None
            except asyncio.CancelledError:  # its answer would be read as the next call's
                self._out_of_step = True
                if self._proc is not None:
                    self._proc.kill()
                raise
        if not ok:
            raise value
        return value

    async def close(self) -> None:
        """Stop the child. A child with no goodbye to say (no group membership, no commits,
        nothing buffered to send) is killed; one with `close_grace_s` first sees its stdin
        close (the end of its requests) and gets that long to stop its own children."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None and self.close_grace_s > 0 and not self._out_of_step:
            proc.close_stdin()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), self.close_grace_s)
        proc.kill()
        await proc.wait()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        """A child is running and in step with us (a new one knows nothing yet)."""
        return (self._proc is not None and self._proc.returncode is None
                and not self._out_of_step)

    async def _child(self) -> ChildProcess:
        if self.alive:
            assert self._proc is not None
            return self._proc
        if self._proc is not None:
            self.restarts += 1
            await self._proc.wait()  # killed when its call was cancelled, or dead
            self._out_of_step = False
        proc = take_early(self.module)
        if proc is None or proc.returncode is not None:
            proc = ChildProcess.spawn(self.module)
        self._proc = proc
        proc.send(self.hello)
        return proc

    async def _died(self, exc: BaseException) -> NexusError:
        proc = self._proc
        assert proc is not None
        if isinstance(exc, TimeoutError):
            proc.kill()
        code = await proc.wait()
        how = (f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited {code}")
        hint = (" (an assertion of a native library, librdkafka's among them, ends a process "
                "this way)" if code == -signal.SIGABRT else "")
        if isinstance(exc, TimeoutError):
            how, hint = f"gave no answer within {self.deadline_s:g} s and was stopped", ""
        return NexusError(f"{self.doing}: the {self.role} process {how}{hint}; "
                          "a new one starts with the next refresh")


def write(stream: BinaryIO, obj: Any) -> None:
    """One message to a blocking stream (flushed)."""
    stream.write(frame(obj))
    stream.flush()


async def read_async(reader: asyncio.StreamReader) -> Any:
    """One message from an asyncio stream (IncompleteReadError when it closed)."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    return pickle.loads(await reader.readexactly(size))


def background_priority() -> None:
    """Called first by a child: run at a lower CPU priority (nice +10) than its parent, so
    that on a busy machine the process the user looks at gets the CPU first."""
    with contextlib.suppress(OSError, AttributeError):  # not permitted, or not POSIX
        os.nice(CHILD_NICENESS)


async def stdio_streams() -> tuple[asyncio.StreamReader, BinaryIO]:
    """The child's stdin as an asyncio stream (to read requests while other tasks run) and
    its stdout for answers (small, written whole and flushed)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader, sys.stdout.buffer


class Served(Protocol):
    """What a child serves: an answer per request, and a goodbye when its stdin closes."""

    async def answer(self, request: Any) -> Any: ...

    async def close(self) -> None: ...


async def serve(open_served: Callable[[Any], Awaitable[Served]], doing: str) -> None:
    """The child's loop: the first message builds the served object, then each request gets
    `(True, answer)` or `(False, NexusError)` (another exception is a bug: it is answered as
    one line naming it, and the child goes on). When the served object cannot be built (a
    bad configuration), every request is answered with why, until the caller gives up."""
    reader, out = await stdio_streams()
    try:
        hello = await read_async(reader)
    except asyncio.IncompleteReadError:
        return
    try:
        served = await open_served(hello)
    except Exception as exc:  # noqa: BLE001 - answered, never a traceback on stderr
        await _refuse(reader, out, _as_nexus_error(exc, doing))
        return
    first = True
    try:
        while True:
            try:
                request = await read_async(reader)
            except asyncio.IncompleteReadError:
                return
            try:
                answer: tuple[bool, Any] = (True, await served.answer(request))
            except Exception as exc:  # noqa: BLE001 - a bug: the caller shows it as one line
                answer = (False, _as_nexus_error(exc, doing))
            if first:  # after the answer the caller waits for; os.nice adds up: once
                background_priority()
                first = False
            write(out, answer)
    finally:
        await served.close()


def _as_nexus_error(exc: Exception, doing: str) -> NexusError:
    """A NexusError as it is; another exception (a bug) as one line naming it."""
    if isinstance(exc, NexusError):
        return exc
    return NexusError(f"{doing}: {type(exc).__name__}: {exc}")


async def _refuse(reader: asyncio.StreamReader, out: BinaryIO, error: NexusError) -> None:
    """Answer every request with `error` until stdin closes."""
    while True:
        try:
            await read_async(reader)
        except asyncio.IncompleteReadError:
            return
        write(out, (False, error))


def run_child(open_served: Callable[[Any], Awaitable[Served]], doing: str) -> None:
    """`python -m <module>`'s entry point for a child: `serve` on a new event loop."""
    asyncio.run(serve(open_served, doing))
    sys.exit(0)

"""Our child processes as processes: how one is started, written to and read from.

A child is `python -m <module>`, spoken to in length-prefixed pickles over its stdin and
stdout (`frame`). This module needs no event loop and imports no asyncio, so that a caller
can start its child first thing (`start_early`), before it imports anything else: the
child's interpreter starts and imports while the caller does. The request/response loop on
both sides is core/engine/child.py's.
"""

from __future__ import annotations

import contextlib
import pickle
import struct
import subprocess
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

#: a message's length, before its pickle
HEADER = struct.Struct(">I")


def frame(obj: Any) -> bytes:
    """One message: its pickle, length first."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


class ChildProcess:
    """A `python -m <module>` child and its pipes: messages are written to its stdin whole
    (a few hundred bytes each: a pipe takes them at once), answers are read from its stdout
    as an asyncio stream. Started with `subprocess`, so that it can be started before any
    event loop runs (`start_early`) and adopted by the loop of the service that talks to it."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self._reader: asyncio.StreamReader | None = None
        self._transport: asyncio.ReadTransport | None = None

    @classmethod
    def spawn(cls, module: str) -> ChildProcess:
        return cls(subprocess.Popen(
            [sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL))

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the child ended (negative: the signal that ended it)."""
        return self.popen.poll()

    async def stdout(self) -> asyncio.StreamReader:
        """The child's stdout as a stream on the running loop (connected on first use)."""
        if self._reader is None:
            import asyncio

            reader = asyncio.StreamReader()
            assert self.popen.stdout is not None
            transport, _ = await asyncio.get_running_loop().connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), self.popen.stdout)
            self._reader, self._transport = reader, transport
        return self._reader

    def send(self, message: Any) -> None:
        """One message to the child's stdin (BrokenPipeError once the child is gone)."""
        assert self.popen.stdin is not None
        self.popen.stdin.write(frame(message))
        self.popen.stdin.flush()

    def close_stdin(self) -> None:
        """The end of the requests: a child's `serve` returns when it reads it."""
        if self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()

    def kill(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()

    async def wait(self) -> int:
        """The exit status, once the child ended; its pipes are closed then."""
        code = self.popen.poll()
        if code is None:
            import asyncio

            code = await asyncio.to_thread(self.popen.wait)
        self.close_pipes()
        return code

    def close_pipes(self) -> None:
        self.close_stdin()
        if self._transport is not None:
            self._transport.close()  # closes the stdout pipe with it
        elif self.popen.stdout is not None:
            self.popen.stdout.close()


#: children started ahead of their first call (`start_early`), by module: the first
#: ChildService of that module takes its own from here (`take_early`)
_started: dict[str, ChildProcess] = {}


def start_early(module: str) -> ChildProcess:
    """Start a `python -m module` child now, for the first ChildService of that module to
    take: its interpreter starts and imports what it needs while the caller still sets up
    (imports, builds its UI). Needs no event loop. Until that first call the child waits for
    its set-up message; if none comes, it ends when the caller's end closes its stdin."""
    if module not in _started:
        _started[module] = ChildProcess.spawn(module)
    return _started[module]


def stop_early() -> None:
    """Stop the children started ahead that no ChildService took (the caller gave up)."""
    while _started:
        _, proc = _started.popitem()
        proc.kill()
        proc.popen.wait()
        proc.close_pipes()


def take_early(module: str) -> ChildProcess | None:
    """The child of `module` started ahead, for the ChildService that starts its first."""
    return _started.pop(module, None)

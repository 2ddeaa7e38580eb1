"""Consumer groups read in a child process, so that a librdkafka abort cannot kill the caller.

librdkafka (2.16, confluentinc/librdkafka#4605, fix proposed in PR #5397) can abort the whole
process (`rd_kafka_enq_once_del_source_return: Assertion 'eonce->refcnt > 0' failed`) when a
coordinator request — DescribeConsumerGroups, ListConsumerGroupOffsets — is sent while the
coordinator's connection is going down. Measured here: 2 aborts in 14 broker restarts with a
refresh loop reading 100 groups (RELIABILITY.md). A dashboard must survive exactly that, so a
long-lived refresh loop (the TUI) reads groups through :class:`GroupReader`: a child process
(`python -m core.group_reader`) owning its own admin client, spoken to over its stdin/stdout
in length-prefixed pickles. When the child dies, the call raises a `NexusError` saying why, and
the next call starts a new child. Pickles only ever travel between this process and the child
it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import signal
import struct
import sys
from typing import Any, BinaryIO

from core.errors import NexusError
from core.settings import ConnectionSettings
from core.snapshot import GroupInfo

_HEADER = struct.Struct(">I")


class GroupReader:
    """`KafkaAdmin`'s consumer-group reads (list, describe, offsets) done in a child process."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()  # one request at a time on the pipe
        self.restarts = 0  # children started after one died

    async def groups(self, group_filter: str | None, errors: list[str]) -> dict[str, GroupInfo]:
        """Every group matching the regex, described with its committed offsets."""
        infos, child_errors = await self._call(("groups", group_filter))
        errors.extend(child_errors)
        return dict(infos)

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def _call(self, request: tuple[Any, ...]) -> Any:
        async with self._lock:
            proc = await self._child()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _write(proc.stdin, request)
                await proc.stdin.drain()
                size = _HEADER.unpack(await asyncio.wait_for(
                    proc.stdout.readexactly(_HEADER.size), self._deadline()))[0]
                ok, value = pickle.loads(await proc.stdout.readexactly(size))
            except (asyncio.IncompleteReadError, BrokenPipeError, ConnectionResetError,
                    TimeoutError) as exc:
                raise await self._died(exc) from None
        if not ok:
            raise value
        return value

    def _deadline(self) -> float:
        # the child's own requests time out after request_timeout_s; list + describe +
        # offsets run one after the other, plus its start-up
        return 3 * self.settings.request_timeout_s + 10

    async def _child(self) -> asyncio.subprocess.Process:
        if self._proc is not None and self._proc.returncode is None:
            return self._proc
        if self._proc is not None:
            self.restarts += 1
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "core.group_reader", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        assert self._proc.stdin is not None
        _write(self._proc.stdin, self.settings)
        return self._proc

    async def _died(self, exc: BaseException) -> NexusError:
        proc = self._proc
        assert proc is not None
        if isinstance(exc, TimeoutError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        code = await proc.wait()
        how = (f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited {code}")
        hint = (" (librdkafka aborts this way when a broker goes away during a group request, "
                "confluentinc/librdkafka#4605)" if code == -signal.SIGABRT else "")
        if isinstance(exc, TimeoutError):
            how = f"no answer within {self._deadline():g} s, stopped"
        return NexusError(f"reading consumer groups: the reader process {how}{hint}; "
                          "a new one starts with the next refresh")


def _write(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)


def _read(stream: BinaryIO) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    return pickle.loads(stream.read(size))


def _serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The child: settings first, then one answer per request until stdin closes."""
    from core.admin import KafkaAdmin, _compile

    admin = KafkaAdmin(_read(stdin))
    loop = asyncio.new_event_loop()
    while True:
        try:
            op, group_filter = _read(stdin)
        except EOFError:
            return
        errors: list[str] = []
        try:
            assert op == "groups", op
            infos = loop.run_until_complete(
                admin._groups(_compile(group_filter, "group filter"), errors))
            answer: tuple[bool, Any] = (True, (list(infos.items()), errors))
        except NexusError as exc:
            answer = (False, exc)
        except Exception as exc:  # noqa: BLE001 - a bug: the caller shows it as one line
            answer = (False, NexusError(f"reading consumer groups: {type(exc).__name__}: {exc}"))
        _write(stdout, answer)
        stdout.flush()


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)

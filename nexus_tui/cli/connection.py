"""The connection options every cluster command takes, and how they become settings."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from core.cluster.audit import set_context as set_audit_context
from core.config.contexts import NexusSettings
from core.config.request import ConnectionRequest
from core.config.settings import ConnectionSettings
from nexus_tui.cli.options import (
    TAKES_CONNECTION,
    apply_options,
    connection_option_list,
    merged_connection_args,
)

T = TypeVar("T")


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """-b/--bootstrap, --context, -X key=value, --read-only, --timeout and --json, accepted
    after the command's name too (see nexus_tui.cli.options for how the two places merge)."""
    return apply_options(func, connection_option_list(before_command=False))


def connection_from(
    bootstrap: str | None, context: str | None, properties: tuple[str, ...], read_only: bool,
    timeout_s: float | None, settings: NexusSettings | None = None,
) -> ConnectionSettings:
    """Context from the config file (or the default), then the command line on top.
    `settings`: the configuration when the caller has read it already."""
    name, conn = ConnectionRequest(bootstrap, context, tuple(properties), read_only,
                                   timeout_s).resolve(settings)
    set_audit_context(name)  # the audit log names the context of every change
    return conn


def pop_connection(kwargs: dict[str, Any]) -> ConnectionSettings:
    """Take the connection options out of a command's kwargs, merge them with those given
    before the command's name, and build the settings."""
    args = merged_connection_args(kwargs)
    return connection_from(args["bootstrap"], args["context"], args["properties"],
                           args["read_only"], args["timeout_s"])


class _Boxed:
    """A command's result, with a cheap repr.

    Python 3.11's `asyncio.run` restores the SIGINT handler through `signal.signal`, which
    formats the handler it replaces, a partial holding the main task, whose repr includes
    the task's result: dataclass reprs of a whole snapshot (BENCHMARKS.md §4)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<result>"


async def _boxed(coro: Coroutine[Any, Any, T]) -> _Boxed:
    return _Boxed(await coro)


def run(coro: Coroutine[Any, Any, T]) -> T:
    result: T = asyncio.run(_boxed(coro)).value
    return result


#: What a command writes, given its kwargs (None: nothing this time, e.g. a dry run).
Writes = str | Callable[[dict[str, Any]], str | None] | None


def with_connection(func: Callable[..., Any] | None = None, *, writes: Writes = None
                    ) -> Any:
    """Decorate a command: adds the connection options and passes `conn` to it.

    `@with_connection` or `@with_connection(writes="topic create")`: a command that writes
    names its action (or a function of its kwargs returning it, None for a dry run), and a
    read-only connection (--read-only anywhere, or a read-only context) refuses it here,
    before the command's body and before any request reaches the cluster."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @connection_options
        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            conn = pop_connection(kwargs)
            action = writes(kwargs) if callable(writes) else writes
            if action is not None:
                conn.check_writable(action)
            return command(conn=conn, **kwargs)

        setattr(wrapper, TAKES_CONNECTION, True)
        return wrapper

    return decorate if func is None else decorate(func)

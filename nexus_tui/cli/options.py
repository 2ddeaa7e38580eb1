"""The connection options, accepted before or after a subcommand's name, merged in one place.

`nexus-tui -b A --read-only dispatch T --payload {}` and `nexus-tui dispatch T --payload {}
-b A --read-only` mean the same. The top-level group declares the options (help: "before the
command"), every command built with `with_connection` declares them again (help: "after the
command"), and `merged_connection_args` reads both from click's context chain:

- a value given after the subcommand wins over the same option given before it;
- flags (`--read-only`) are OR-ed: read-only anywhere is read-only;
- `-X key=value` properties are merged, the subcommand's winning per key;
- an option given nowhere falls back to its environment variable, then its default.

A command that takes no connection (`local`, `demo`) refuses such options given before it,
aloud, rather than ignoring them (`check_applicable`). Only click is imported here: the
top-level group loads this module for every command, `local` and `--help` included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from nexus_tui.cli.output import fail, json_option

#: Parameter names of the connection options, the same in the group and in every command.
CONNECTION_PARAMS = ("bootstrap", "context", "properties", "read_only", "timeout_s")
#: Marks a command callback built by `with_connection` (so the group knows it takes them).
TAKES_CONNECTION = "__nexus_takes_connection__"
#: Turns on the Kafka clients' log lines on stderr, like -v.
VERBOSE_ENV = "NEXUS_TUI_VERBOSE"

_WINS = "Also accepted after the command's name, where it wins."
_AFTER = "Wins over the same option given before the command's name."


def connection_option_list(before_command: bool) -> list[Callable[[Any], Any]]:
    """The click options: for the top-level group (`before_command`) or for a command."""
    where = _WINS if before_command else _AFTER
    return [
        click.option("-b", "--bootstrap", default=None, metavar="HOST:PORT[,...]",
                     envvar="NEXUS_TUI_BOOTSTRAP",
                     help=f"Bootstrap servers (overrides the context's). {where}"),
        click.option("--context", "context", default=None, metavar="NAME",
                     help=f"A cluster from the config file. {where}"),
        click.option("-X", "properties", multiple=True, metavar="KEY=VALUE",
                     help="Raw librdkafka client property (repeatable; merged with those "
                          "given before/after the command, the command's winning per key)."),
        click.option("--read-only", is_flag=True, default=False,
                     help="Refuse every write (dispatch, seek --execute, ...), given before "
                          "or after the command's name."),
        click.option("--timeout", "timeout_s", type=click.FloatRange(0.5, 600), default=None,
                     help=f"Seconds to wait for the cluster (default 10). {where}"),
        json_option,
    ]


def apply_options(func: Callable[..., Any], options: list[Callable[[Any], Any]]
                  ) -> Callable[..., Any]:
    for option in reversed(options):
        func = option(func)
    return func


def group_connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The connection options and -v of the top-level group (given before a command)."""
    return apply_options(func, [
        *connection_option_list(before_command=True),
        click.option("-v", "--verbose", is_flag=True, default=False,
                     help=f"Show the Kafka clients' warnings and errors on stderr (also "
                          f"{VERBOSE_ENV}=1)."),
    ])


def merged_connection_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop the connection options out of a command's kwargs, merged with those given before
    the command's name (every enclosing group of the click context chain)."""
    values = {name: kwargs.pop(name) for name in CONNECTION_PARAMS}
    kwargs.pop("as_json", None)
    ctx = click.get_current_context(silent=True)
    if ctx is None:  # called outside click (a test, a script): the values as given
        return values
    chain = []
    while ctx is not None:
        chain.append(ctx)
        ctx = ctx.parent
    chain.reverse()  # outermost first: a later (inner) command line value wins
    merged = dict(values)
    properties: list[str] = []
    for level in chain:
        for name in CONNECTION_PARAMS:
            if name not in level.params:
                continue
            if level.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
                continue
            value = level.params[name]
            if name == "properties":
                properties.extend(value)
            elif name == "read_only":
                merged[name] = merged[name] or value
            else:
                merged[name] = value
    merged["properties"] = tuple(properties)
    return merged


def takes_connection(command: click.Command) -> bool:
    """True when the command (or, for a group, one of its commands) uses the connection."""
    if isinstance(command, click.Group):
        return any(takes_connection(c) for c in command.commands.values())
    return bool(getattr(command.callback, TAKES_CONNECTION, False))


def check_applicable(ctx: click.Context) -> None:
    """Refuse, in one line, group options that do not apply to the command invoked."""
    name = ctx.invoked_subcommand
    given = [p for p in ctx.command.params
             if p.name and ctx.get_parameter_source(p.name) is ParameterSource.COMMANDLINE]
    if name is None:
        for param in given:
            if param.name in ("timeout_s", "as_json"):
                fail(f"{'/'.join(getattr(param, 'opts', []))} applies to the commands, "
                     "not to the dashboard")
        return
    if any(p.name == "refresh" for p in given):
        fail(f"--refresh applies to the dashboard (no command), not to `{name}`")
    assert isinstance(ctx.command, click.Group)
    command = ctx.command.get_command(ctx, name)
    if command is None or takes_connection(command):
        return
    for param in given:
        if param.name in CONNECTION_PARAMS:
            flags = "/".join(getattr(param, "opts", [param.name]))
            fail(f"{flags} does not apply to `{name}`")


def quiet_client_logs(ctx: click.Context, verbose: bool) -> None:
    """A command's stderr carries our lines, not aiokafka's.

    aiokafka logs transient conditions it retries by itself as errors (e.g.
    GroupCoordinatorNotAvailableError while a group's coordinator is being elected at a
    first join); without a logging configuration Python prints them on stderr. Commands hide
    them unless -v (or NEXUS_TUI_VERBOSE=1) asks for them; the dashboard has its own log."""
    if ctx.invoked_subcommand is None:
        return
    if verbose or os.environ.get(VERBOSE_ENV, "") not in ("", "0"):
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

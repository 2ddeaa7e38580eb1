"""The `nexus-tui` executable: the dashboard straight from a plain command line, the rest by click.

Opening the dashboard is the start a user waits on, and importing click is a measurable part
of it (BENCHMARKS.md §10). So a command line made only of the dashboard's own options, each
in its plainest form (`-b HOST:PORT`, `--context NAME`, `-X KEY=VALUE`, `--read-only`,
`--refresh SECONDS`, `-v`), is read here and the dashboard launched without click.

Anything else goes to click untouched: a command, `--help`, `--version`, `--opt=value` or
`-bHOST` forms, a value that starts with `-` or is empty, a `--refresh` out of range or not a
plain number, an option the dashboard refuses (`--timeout`, `--json`). So click stays the one
judge of every command line this module is not certain about, and its errors and help are
the only ones a user sees; tests/test_entry.py checks that both paths give the same launch.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import NamedTuple

#: what click's `--refresh` (a FloatRange(0, 3600)) surely accepts, written plainly
_PLAIN_SECONDS = re.compile(r"\d{1,4}(\.\d{1,6})?")
_VALUED = {"-b": "bootstrap", "--bootstrap": "bootstrap", "--context": "context",
           "-X": "properties", "--refresh": "refresh"}
_FLAGS = {"--read-only": "read_only", "-v": "verbose", "--verbose": "verbose"}


class DashboardArgs(NamedTuple):
    """The dashboard's options, as click would pass them to `launch_tui`."""

    bootstrap: str | None
    context: str | None
    properties: tuple[str, ...]
    read_only: bool
    refresh: float | None


def dashboard_args(argv: list[str], environ: Mapping[str, str] = os.environ,
                   ) -> DashboardArgs | None:
    """The dashboard's options when `argv` is a plain dashboard command line, else None (click
    reads it)."""
    values: dict[str, str] = {}
    properties: list[str] = []
    flags: set[str] = set()
    tokens = iter(argv)
    for token in tokens:
        if token in _FLAGS:
            flags.add(_FLAGS[token])
            continue
        name = _VALUED.get(token)
        value = next(tokens, None)
        if name is None or not value or value.startswith("-"):
            return None
        if name == "properties":
            properties.append(value)
        else:
            values[name] = value
    refresh = values.get("refresh")
    if refresh is not None and not (_PLAIN_SECONDS.fullmatch(refresh)
                                    and float(refresh) <= 3600):
        return None
    return DashboardArgs(
        bootstrap=values.get("bootstrap") or environ.get("NEXUS_TUI_BOOTSTRAP") or None,
        context=values.get("context"),
        properties=tuple(properties),
        read_only="read_only" in flags,
        refresh=None if refresh is None else float(refresh),
    )


def main() -> None:
    try:
        args = dashboard_args(sys.argv[1:])
        if args is None:
            from nexus_tui.cli import cli

            cli(prog_name="nexus-tui")
        else:
            open_dashboard(args)
    finally:
        skip_final_collection()


def open_dashboard(args: DashboardArgs) -> None:
    """Launch the dashboard; a failure is reported as click's commands report theirs."""
    from nexus_tui.launch import launch_tui

    try:
        launch_tui(*args)
    except SystemExit:
        raise
    except BaseException as exc:
        from nexus_tui.cli import report_failure  # click, on the way out

        report_failure(exc)


def skip_final_collection() -> None:
    """Spare the exiting process its last cyclic garbage collections.

    Interpreter shutdown runs full collections over everything still alive (a whole snapshot
    and the modules: BENCHMARKS.md §4) only to free memory the OS takes back anyway. Frozen
    objects are not examined; everything is still released by reference counting, the Kafka
    clients are closed and atexit handlers run."""
    import gc

    gc.disable()
    gc.freeze()

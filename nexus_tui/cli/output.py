"""How the CLI prints results and errors: human text, or JSON with --json."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

_json_requested = False


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    global _json_requested
    _json_requested = _json_requested or bool(value)
    return value


def json_mode() -> bool:
    """True when the command line asked for --json (errors are then JSON too)."""
    return _json_requested


def emit(data: Any, human: str | None = None) -> None:
    """Print `data` as JSON with --json, else the human text (or JSON when none is given)."""
    if json_mode() or human is None:
        click.echo(json.dumps(data, indent=None if json_mode() else 2, default=str))
    else:
        click.echo(human)


def fail(message: str, code: int = 1) -> None:
    """One clear line on stderr (a JSON object with --json), then exit non-zero."""
    line = json.dumps({"error": message}) if json_mode() else f"error: {message}"
    click.echo(line, err=True)
    sys.exit(code)


json_option = click.option(
    "--json", "as_json", is_flag=True, default=False, callback=_remember_json,
    is_eager=True, help="Print machine-readable JSON.",
)

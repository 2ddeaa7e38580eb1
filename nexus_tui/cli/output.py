"""How the CLI prints results and errors: human text, or JSON with --json."""

from __future__ import annotations

import json
import sys
from typing import Any

import click


def json_mode() -> bool:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("as_json"):
            return True
        ctx = ctx.parent
    return False


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
    "--json", "as_json", is_flag=True, default=False, help="Print machine-readable JSON."
)

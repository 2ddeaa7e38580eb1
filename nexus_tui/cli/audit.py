"""`nexus-tui audit`: the changes nexus-tui made to clusters, from the audit log."""

from __future__ import annotations

import time
from typing import Any

import click

from core.cluster.audit import audit_path, parse_since, read_entries
from nexus_tui.cli.output import emit, json_option
from nexus_tui.cli.table import render_table


def entry_row(e: dict[str, Any]) -> list[Any]:
    """TIME, PHASE, MODE, ACTION, TARGET, CONTEXT, USER, OUTCOME of one line."""
    args = e.get("args") or {}
    target = args.get("topic") or args.get("group") or "-"
    outcome = e.get("error") or e.get("outcome") or "-"
    return [e.get("time", "-"), e.get("phase", "-"), e.get("mode", "-"), e.get("action", "-"),
            target, e.get("context") or "-", e.get("user", "-"), outcome]


@click.command()
@click.option("--since", metavar="T",
              help="Only lines at or after T: a datetime (YYYY-MM-DDTHH:mm:SS[.sss][Z]) or an "
                   "ISO-8601 duration ago (PT1H).")
@click.option("--action", metavar="A",
              help="Only this action (topic.alter, seek, dispatch...) or family (topic).")
@json_option
def audit(since: str | None, action: str | None, as_json: bool) -> None:
    """The audit log: an intent line before every change and a result line after it."""
    since_ms = None if since is None else parse_since(since, int(time.time() * 1000))
    entries = read_entries(since_ms=since_ms, action=action)
    human = render_table(
        ["TIME", "PHASE", "MODE", "ACTION", "TARGET", "CONTEXT", "USER", "OUTCOME"],
        [entry_row(e) for e in entries]) if entries else f"(no entries in {audit_path()})"
    emit(entries, human)

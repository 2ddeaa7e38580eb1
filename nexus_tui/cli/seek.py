"""`nexus-tui seek GROUP <strategy>`: reset a consumer group's offsets (dry run by default),
with kafka-consumer-groups.sh's strategies and its rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from core.cluster.seek import GroupSeeker, SeekPlan, strategy_from_options
from core.cluster.seek_parse import (
    SeekStrategy,
    StrategyKind,
    TopicScope,
    merge_scopes,
    parse_topic_scope,
)
from core.config.settings import ConnectionSettings
from core.errors import ConfigError
from nexus_tui.cli.connection import run, with_connection
from nexus_tui.cli.output import emit


@click.command()
@click.argument("group")
@click.option("--to-earliest", is_flag=True, help="The log start offset.")
@click.option("--to-latest", is_flag=True, help="The log end offset.")
@click.option("--to-current", is_flag=True,
              help="The committed offset (log end where none).")
@click.option("--to-offset", metavar="N", help="Offset N (clamped into the log).")
@click.option("--shift-by", metavar="N", help="Move the committed offset by ±N (clamped).")
@click.option("--to-datetime", metavar="T",
              help="First offset at or after YYYY-MM-DDTHH:mm:SS.sss[Z|±HH:MM] (UTC if no zone).")
@click.option("--by-duration", metavar="D",
              help="First offset at or after now − D (ISO-8601, e.g. PT10M, P1DT2H).")
@click.option("--from-file", metavar="FILE",
              help="Offsets from a CSV of topic,partition,offset (Kafka's --export).")
@click.option("--to-group", metavar="G", help="Copy group G's committed offsets.")
@click.option("--topic", "topics", multiple=True, metavar="T[:P,...]",
              help="Scope (repeatable); default: every partition the group committed.")
@click.option("--execute", is_flag=True, help="Commit the new offsets (default: dry run).")
@click.option("--export-csv", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write the new offsets as CSV (Kafka's --export format).")
@with_connection(writes=lambda kwargs: "seek" if kwargs["execute"] else None)
def seek(conn: ConnectionSettings, group: str, topics: tuple[str, ...], execute: bool,
         export_csv: str | None, **strategy_options: Any) -> None:
    """Reset GROUP's committed offsets, like kafka-consumer-groups.sh --reset-offsets.

    Give exactly one strategy. Nothing changes without --execute, which is refused unless
    the group is Empty or Dead (stop its consumers first).
    """
    strategy = strategy_from_options(strategy_options)
    scope = merge_scopes(parse_topic_scope(t) for t in topics)
    plan = run(_seek(conn, group, strategy, scope, execute))
    if export_csv:
        _write(export_csv, plan.to_csv())
    command = plan.kafka_command(conn.bootstrap, execute=execute, csv_path=export_csv)
    data = plan.to_dict(executed=execute)
    data["kafka_command"] = command
    emit(data, render(plan, execute, command, export_csv))


async def _seek(conn: ConnectionSettings, group: str, strategy: SeekStrategy,
                scope: tuple[TopicScope, ...], execute: bool) -> SeekPlan:
    seeker = GroupSeeker(conn)
    plan = await seeker.plan(group, strategy, scope)
    if execute:
        await seeker.apply(plan)
    return plan


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def render(plan: SeekPlan, executed: bool, command: str, csv_path: str | None = None
           ) -> str:
    """The plan as a table, its warnings and what to do next."""
    members = f", {len(plan.members)} member(s)" if plan.members else ""
    lines = [f"group {plan.group} ({plan.group_state}{members}): {plan.strategy}, "
             f"{len(plan.changes)} partition(s)"]
    lines += _table(plan)
    lines += [f"warning: {c.topic}[{c.partition}]: {c.requested} {c.clamp_reason}"
              for c in plan.clamped]
    lines += [f"note: {n}" for n in plan.notes]
    if executed:
        lines.append(f"committed the new offsets of {len(plan.changes)} partition(s)")
    else:
        if plan.refusal:
            lines.append(f"warning: --execute would be refused: {plan.refusal}")
        lines.append("dry run: nothing changed; add --execute to apply")
    lines.append(f"same with Kafka's tool: {command}")
    if plan.spec.kind is StrategyKind.GROUP and csv_path is None:
        lines.append("(Kafka has no to-group: write offsets.csv with --export-csv offsets.csv)")
    return "\n".join(lines)


def _table(plan: SeekPlan) -> list[str]:
    if not plan.changes:
        return ["(no partitions)"]
    rows = [("TOPIC", "PARTITION", "CURRENT → TARGET", "LAG BEFORE → AFTER", "")]
    for c in plan.changes:
        rows.append((
            c.topic, str(c.partition), f"{_dash(c.current)} → {c.target}",
            f"{_dash(c.lag_before)} → {c.lag_after}",
            "clamped" if c.clamped else (c.note or ""),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)

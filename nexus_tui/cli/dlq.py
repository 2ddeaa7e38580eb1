"""`nexus-tui dlq list|show|redrive`: inspect dead-letter topics and put their records back."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from core.config.settings import ConnectionSettings
from nexus_tui.cli.connection import with_connection
from nexus_tui.cli.output import emit, json_mode

SHOW_LIMIT = 100


def _filter(since: str | None, until: str | None, error: str | None, grep: str | None) -> Any:
    from core.cluster.audit import parse_since
    from core.cluster.dead_letters import DeadLetterFilter

    now_ms = int(time.time() * 1000)
    return DeadLetterFilter(
        since_ms=None if since is None else parse_since(since, now_ms, "--since"),
        until_ms=None if until is None else parse_since(until, now_ms, "--until"),
        error=error, grep=grep)


def filter_options(func: Any) -> Any:
    for option in reversed([
        click.option("--since", metavar="T", help="Dead-lettered at or after T: a datetime "
                     "(2026-12-04T10:00:00.000) or a duration ago (PT1H)."),
        click.option("--until", metavar="T", help="Dead-lettered before T (same forms)."),
        click.option("--error", metavar="REGEX", help="The error header matches REGEX."),
        click.option("--grep", metavar="REGEX", help="The key or value matches REGEX."),
    ]):
        func = option(func)
    return func


@click.group()
def dlq() -> None:
    """Dead-letter topics (<topic>.dlq): inspect them and redrive them exactly once."""


@dlq.command("list")
@click.argument("dlq_topic", required=False)
@with_connection
def dlq_list(conn: ConnectionSettings, dlq_topic: str | None) -> None:
    """Per dead-letter topic: records, oldest/newest, counts by original topic and by
    error (ids and numbers masked), and how many were already redriven."""
    from core.cluster.dead_letter_store import ClusterDeadLetters
    from core.cluster.dead_letters import partitions_of, reader

    store = ClusterDeadLetters(conn)
    if dlq_topic is None:
        topics = store.topics()
    else:
        consumer = reader(conn)
        try:
            partitions_of(consumer, dlq_topic, conn.request_timeout_s)  # NotFound: one line
        finally:
            consumer.close()
        topics = [dlq_topic]
    rows = [store.summary(topic).as_json() for topic in topics]
    lines = []
    for row in rows:
        lines.append(f"{row['topic']}: {row['records']} record(s), {row['redriven']} redriven"
                     + (f", {row['oldest']} .. {row['newest']}" if row["records"] else ""))
        for name, count in row["by_original_topic"].items():
            lines.append(f"  from {name}: {count}")
        for text, count in row["by_error"].items():
            lines.append(f"  {count:>6}  {text}")
    emit(rows, "\n".join(lines) if lines else "no dead-letter topics")


@dlq.command("show")
@click.argument("dlq_topic")
@filter_options
@click.option("--limit", type=click.IntRange(1), default=SHOW_LIMIT, show_default=True,
              help="Show at most N dead letters (the oldest first).")
@with_connection
def dlq_show(conn: ConnectionSettings, dlq_topic: str, since: str | None, until: str | None,
             error: str | None, grep: str | None, limit: int) -> None:
    """The dead letters decoded: envelope fields, payload, the headers in words."""
    from core.cluster.dead_letters import read_dead_letters

    selection = _filter(since, until, error, grep)
    shown: list[dict[str, Any]] = []
    matched = 0
    for letter in read_dead_letters(conn, dlq_topic):
        if not selection.matches(letter):
            continue
        matched += 1
        if len(shown) < limit:
            shown.append(letter.as_json())
    if json_mode():
        emit({"dlq_topic": dlq_topic, "matched": matched, "shown": len(shown),
              "dead_letters": shown})
        return
    lines = [f"{matched} dead letter(s) of {dlq_topic} match; showing {len(shown)}"]
    for row in shown:
        lines.append(f"\n[{row['partition']}@{row['offset']}] {row['time']}  "
                     f"from {row['original_topic'] or '?'}"
                     f"[{row['original_partition']}]@{row['original_offset']}  "
                     f"after {row['attempts']} attempt(s)")
        lines.append(f"  error: {row['error']}")
        envelope = row.get("envelope")
        if envelope:
            lines.append(f"  {envelope['kind']} id {envelope['id']} root {envelope['root_id']}")
            import json

            lines.append("  payload: " + json.dumps(envelope["payload"], ensure_ascii=False)[:500])
        else:
            lines.append(f"  not a Nexus envelope; value: {row['value'][:500]}")
    emit(shown, "\n".join(lines))


@dlq.command("redrive")
@click.argument("dlq_topic")
@click.option("--to", "to", metavar="TOPIC",
              help="Put them back on TOPIC instead of each one's original topic.")
@filter_options
@click.option("--limit", type=click.IntRange(1), default=None, help="At most N dead letters.")
@click.option("--rate", type=click.FloatRange(min=0.1), default=None,
              help="At most R records per second.")
@click.option("--execute", is_flag=True, help="Do it (without: a dry run that prints the plan).")
@with_connection
def dlq_redrive(conn: ConnectionSettings, dlq_topic: str, to: str | None, since: str | None,
                until: str | None, error: str | None, grep: str | None, limit: int | None,
                rate: float | None, execute: bool) -> None:
    """Republish dead letters to their original topic (or --to), exactly once.

    The original bytes and key, with headers naming the dead letter. Progress is committed in
    the group nexus-tui.redrive.DLQ_TOPIC; an interrupted run continued with the same command
    neither loses nor repeats a record. A dry run unless --execute."""
    from core.cluster.audit import audited
    from core.cluster.redrive import Redrive, RedriveRequest

    request = RedriveRequest(dlq_topic, to=to, filter=_filter(since, until, error, grep),
                             limit=limit, rate=rate)
    redrive = Redrive(conn, request)
    with audited(conn, "dlq.redrive", request.audit_args(), execute=execute,
                 deferred=True) as record:
        if execute:
            conn.check_writable("dlq redrive")  # before any request
        plan = redrive.plan()
        record.before = plan.audit_before()
        if not execute:
            record.result = plan.as_json()
        else:
            record.intent()
            if plan.to_send == 0:
                result = redrive.run(plan)
            else:
                with _progress(plan.to_send) as progress:
                    result = redrive.run(plan, progress)
            record.after = {"positions": {str(p): o for p, o in sorted(result.positions.items())}}
            record.result = result.as_json()
    if not execute:
        _print_plan(plan)
        return
    data = result.as_json()
    emit(data, f"redriven {data['redriven']} dead letter(s) of {dlq_topic} "
               f"({', '.join(f'{t}: {n}' for t, n in data['by_target'].items()) or 'none'}); "
               f"{data['skipped_already_redriven']} were already back, "
               f"{data['not_selected']} not selected; {data['records_per_s'] or 0:.0f}/s")


def _print_plan(plan: Any) -> None:
    data = plan.as_json()
    lines = [f"dry run: {data['to_send']} dead letter(s) of {data['dlq_topic']} would be "
             f"redriven ({data['already_redriven']} already back, {data['not_selected']} not "
             "selected); add --execute to do it"]
    for target, count in data["by_target"].items():
        lines.append(f"  -> {target}: {count}")
    for text, count in data["by_error"].items():
        lines.append(f"  {count:>6}  {text}")
    if data["sample"]:
        lines.append("sample:")
        for row in data["sample"]:
            lines.append(f"  [{row['partition']}@{row['offset']}] key {row['key']} -> "
                         f"{row['target']}  ({row['error']})")
    emit(data, "\n".join(lines))


class _progress:
    """A progress bar on a terminal (records, rate, ETA); plain lines every 2 s otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        self.last_line = 0.0
        self.tty = sys.stderr.isatty() and not json_mode()
        self.bar: Any = None
        self.shown = 0

    def __enter__(self) -> _progress:
        if self.tty:
            self.bar = click.progressbar(length=self.total, label="redriving", file=sys.stderr,
                                         show_eta=True, show_pos=True,
                                         item_show_func=lambda _: self._rate())
            self.bar.__enter__()
        return self

    def _rate(self) -> str:
        elapsed = time.monotonic() - self.started
        return f"{self.shown / elapsed:.0f}/s" if elapsed > 0 else ""

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.shown)
            self.shown = done
            return
        self.shown = done
        now = time.monotonic()
        if now - self.last_line >= 2.0 or done >= total:
            self.last_line = now
            click.echo(f"redriven {done}/{total} ({self._rate()})", err=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

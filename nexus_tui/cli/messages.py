"""`nexus-tui messages`: browse the records of a topic, or follow one conversation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from core.cluster.browse import (
    UNDECODABLE,
    Beginning,
    BrowsedRecord,
    Offset,
    RecordFilter,
    StartAt,
    Tail,
    Timestamp,
    browse,
    follow_conversation,
    printable,
)
from core.config.settings import ConnectionSettings
from core.errors import ConfigError
from core.wire.envelope import MessageKind
from nexus_tui.cli.connection import run, with_connection
from nexus_tui.cli.output import emit, json_mode

KINDS = [k.value for k in MessageKind] + [UNDECODABLE]


def parse_time(text: str) -> int:
    """ISO 8601 (no zone = local time) or Unix milliseconds, as Unix milliseconds."""
    stripped = text.strip()
    bad = ConfigError(
        f"--from-time {text[:40]!r} is not an ISO 8601 time (e.g. 2024-05-01T12:00:00Z) "
        "or Unix milliseconds"
    )
    if stripped.isascii() and stripped.isdigit():
        if len(stripped) > 15:  # beyond year 33000 in ms: not a time
            raise bad
        return int(stripped)
    try:
        moment = datetime.fromisoformat(stripped)
        if moment.tzinfo is None:
            moment = moment.astimezone()  # naive: the local time zone
        return int(moment.timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        raise bad from None


def _start_at(from_offset: int | None, from_time: str | None, from_beginning: bool,
              tail: int | None) -> StartAt:
    given = [name for name, value in (
        ("--from-offset", from_offset), ("--from-time", from_time),
        ("--from-beginning", from_beginning or None), ("--tail", tail),
    ) if value is not None]
    if len(given) > 1:
        raise ConfigError(f"use only one of {', '.join(given)}")
    if from_offset is not None:
        return Offset(from_offset)
    if from_time is not None:
        return Timestamp(parse_time(from_time))
    if from_beginning:
        return Beginning()
    return Tail(20 if tail is None else tail)


def record_json(record: BrowsedRecord) -> dict[str, Any]:
    """A record for --json: its envelope's payload as JSON, base64 undone as in the human
    output. `payload_encoding` says what was on the wire ("json", or "base64-json" for a Go
    child request, whose wire string is then kept as `payload_raw`)."""
    data = record.as_json()
    envelope = data["envelope"]
    if envelope is None or record.envelope is None:
        return data
    if record.payload_base64:
        envelope["payload_raw"] = envelope["payload"]
        envelope["payload"] = record.envelope.payload_json()
        envelope["payload_encoding"] = "base64-json"
    else:
        envelope["payload_encoding"] = "json"
    return data


def _line(record: BrowsedRecord, conversation: bool = False) -> str:
    """time, partition@offset, kind, id, summary. In a conversation the time is the envelope's
    created_at (the order of the list) and the topic is shown too."""
    if conversation:
        moment = datetime.fromtimestamp(record.created_at_ns / 1e9, UTC)
    else:
        moment = record.time
    when = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    where = f"{record.partition}@{record.offset}"
    if conversation:
        where = f"{record.topic}[{where}]"
    ident = record.id or (f"key={record.key}" if record.key is not None else "-")
    return printable(f"{when}  {where}  {record.kind}  {ident}  {record.summary()}")


@click.command()
@click.argument("topic", required=False)
@click.option("--partition", "-p", "partitions", type=click.IntRange(0), multiple=True,
              help="Only this partition (repeatable; default all).")
@click.option("--from-offset", type=click.IntRange(0), default=None,
              help="Start at this offset on each partition (clamped to the log).")
@click.option("--from-time", default=None, metavar="ISO|MS",
              help="Start at this time: ISO 8601 (no zone = local) or Unix milliseconds.")
@click.option("--from-beginning", is_flag=True, default=False, help="Start at the log start.")
@click.option("--tail", type=click.IntRange(0), default=None,
              help="The last N records of each partition (the default, N = 20).")
@click.option("--root-id", default=None, help="Only records of this conversation.")
@click.option("--grep", default=None, metavar="TEXT",
              help="Only records whose key or value contains TEXT (case-insensitive).")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only this kind.")
@click.option("--limit", type=click.IntRange(1), default=200, show_default=True,
              help="At most this many records.")
@click.option("--follow-conversation", "conversation", default=None, metavar="ROOT_ID",
              help="Every record of this conversation across topics (TOPIC, if given, "
                   "limits the search to it).")
@click.option("--scan", type=click.IntRange(1), default=5000, show_default=True,
              help="With --follow-conversation: records read per topic (from the end).")
@with_connection
def messages(conn: ConnectionSettings, topic: str | None, partitions: tuple[int, ...],
             from_offset: int | None, from_time: str | None, from_beginning: bool,
             tail: int | None, root_id: str | None, grep: str | None, kind: str | None,
             limit: int, conversation: str | None, scan: int) -> None:
    """Records of TOPIC (the last 20 of each partition by default), oldest first.

    Reads without a consumer group: nothing is committed. With --follow-conversation, reads
    only the partition the conversation is keyed to in each topic (dead-letter topics too).
    """
    if conversation is not None:
        if partitions or any(v is not None for v in (from_offset, from_time, tail)) or (
            from_beginning
        ):
            raise ConfigError("--follow-conversation reads the conversation's own partition: "
                              "drop --partition and --from-*/--tail")
        _conversation(conn, conversation, topic, scan, RecordFilter(None, grep, kind), limit)
        return
    if topic is None:
        raise ConfigError("give a TOPIC (or --follow-conversation ROOT_ID)")
    start = _start_at(from_offset, from_time, from_beginning, tail)
    flt = RecordFilter(root_id=root_id, text=grep, kind=kind)
    result = run(browse(conn, topic, partitions=partitions or None, start=start, limit=limit,
                        filter=None if flt.empty else flt))
    if json_mode():
        emit([record_json(r) for r in result])
    else:
        for record in result:
            click.echo(_line(record))
        if not result:
            click.echo(f"no records ({result.scanned:,} read)", err=True)
        if result.timed_out:
            click.echo(f"stopped at the deadline after reading {result.scanned:,} records",
                       err=True)


def _conversation(conn: ConnectionSettings, root_id: str, topic: str | None, scan: int,
                  flt: RecordFilter, limit: int) -> None:
    found = run(follow_conversation(conn, root_id, [topic] if topic else None, scan))
    records = [r for r in found.records if flt.empty or flt.matches(r)][:limit]
    data: dict[str, Any] = {
        "root_id": root_id,
        "records": [record_json(r) for r in records],
        "scanned": [{"topic": s.topic, "partition": s.partition, "start": s.start,
                     "end": s.end, "log_start": s.log_start, "records": s.scanned,
                     "truncated": s.truncated} for s in found.scans],
        "truncated": found.truncated,
        "timed_out": found.timed_out,
    }
    if json_mode():
        emit(data)
    else:
        for record in records:
            click.echo(_line(record, conversation=True))
        click.echo(("" if records else "no records; ") + found.describe_scan(), err=True)

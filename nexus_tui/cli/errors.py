"""`nexus-tui errors`: Nexus error rates of live traffic, watched for a few seconds."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import click
from msgspec.structs import asdict

from core.cluster.admin import KafkaAdmin, NotFound
from core.config.settings import ConnectionSettings
from core.errors import ConfigError, NexusError
from core.traffic.watcher import TrafficWatcher
from core.traffic.window import MAX_WINDOW_S, ErrorReply, TopicTraffic
from core.wire.topic_names import traffic_topics
from nexus_tui.cli.connection import run, with_connection
from nexus_tui.cli.output import emit, fail, json_mode
from nexus_tui.cli.table import render_table

_MIN_WINDOW_S = 1.0


def _seconds(text: str, option: str, low: float, high: float) -> float:
    """A number of seconds in [low, high] from the command line, or ConfigError."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{option} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{option} must be {low:g} to {high:g} seconds, got {text}")
    return value


async def _chosen_topics(admin: KafkaAdmin, asked: tuple[str, ...]) -> list[str]:
    names = await admin.topic_names()
    if not asked:
        chosen = traffic_topics(names)
        if not chosen:
            raise NotFound(f"no Nexus topics on {admin.settings.bootstrap}; "
                           "name the topics to watch with --topic")
        return chosen
    existing = set(names)
    for topic in asked:
        if topic not in existing:
            raise NotFound(f"topic {topic} does not exist")
    return list(dict.fromkeys(asked))


async def watch_for(
    conn: ConnectionSettings, topics: tuple[str, ...], window_s: float,
    unanswered_after_s: float,
) -> tuple[list[TopicTraffic], list[ErrorReply]]:
    """Tail the topics from their end for `window_s` seconds; the traffic seen meanwhile."""
    admin = KafkaAdmin(conn)
    chosen = await _chosen_topics(admin, topics)
    if not json_mode():
        click.echo(f"watching {len(chosen)} topic(s) for {window_s:g} s…", err=True)
    # The window is longer than the run, so the rates cover exactly the time watched.
    watcher = TrafficWatcher(conn, chosen, window_s=min(MAX_WINDOW_S, math.ceil(window_s) + 1),
                             unanswered_after_s=unanswered_after_s, admin=admin)
    async with watcher:
        await watcher.positioned()
        await asyncio.sleep(window_s)  # the watch itself: traffic is counted meanwhile
        return list(watcher.stats().values()), watcher.recent_errors()


def _json_rows(rows: list[TopicTraffic], errors: list[ErrorReply]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        data = {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(row).items()}
        data["recent_errors"] = [
            {"created_at_ns": e.created_at_ns, "topic": e.topic, "request_id": e.request_id,
             "request_topic": e.request_topic, "error": e.error}
            for e in errors if row.topic in (e.topic, e.request_topic)]
        out.append(data)
    return out


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _human(rows: list[TopicTraffic], errors: list[ErrorReply], window_s: float) -> str:
    table = render_table(
        ["TOPIC", "ROLE", "MSG/S", "REQ/S", "REPLY/S", "ERR/S", "ERR%", "UNDEC/S", "UNANSWERED",
         "PENDING", "P50 MS", "P99 MS", "DLQ/S"],
        [[r.topic, r.role, _num(r.messages_per_s), _num(r.requests_per_s),
          _num(r.replies_per_s), _num(r.error_replies_per_s), _num(r.error_pct),
          _num(r.undecodable_per_s), r.unanswered, r.pending, _num(r.latency_p50_ms),
          _num(r.latency_p99_ms), _num(r.dlq_inflow_per_s, 2)] for r in rows])
    lines = [f"traffic over {window_s:g} s", table]
    if errors:
        lines.append("\nrecent error replies:")
        for e in errors[-10:]:
            stamp = time.strftime("%H:%M:%S", time.localtime(e.created_at_ns / 1e9))
            lines.append(f"  {stamp}  {e.topic}  {e.request_id}  {e.error}")
    return "\n".join(lines)


@click.command()
@click.option("--topic", "-t", "topics", multiple=True, metavar="TOPIC",
              help="Topic to watch (repeatable). Default: every non-internal topic named like "
                   "a Nexus topic (<team>.<domain>[...].v<N>) and their .dlq topics.")
@click.option("--window", "window", default="10", show_default=True, metavar="SECONDS",
              help=f"Seconds to watch ({_MIN_WINDOW_S:g} to {MAX_WINDOW_S}): topics are tailed "
                   "from their end, so this is how long the command runs.")
@click.option("--unanswered-after", "unanswered_after", default="30", show_default=True,
              metavar="SECONDS",
              help="A request with no reply after this long counts as unanswered (Go callers "
                   "wait 30 s); younger ones are shown as pending.")
@with_connection
def errors(conn: ConnectionSettings, topics: tuple[str, ...], window: str,
           unanswered_after: str) -> None:
    """Error rates of live Nexus traffic, per topic: messages, requests, replies and error
    replies per second, error % (error replies / replies), undecodable records, requests left
    unanswered, reply latency p50/p99 and dead-letter inflow.

    Tails the topics from their end for --window seconds without a consumer group (nothing
    is committed; allowed on read-only connections). Reply topics named by the requests seen
    are followed too, so that replies can be matched to requests.
    """
    try:
        window_s = _seconds(window, "--window", _MIN_WINDOW_S, MAX_WINDOW_S)
        unanswered_s = _seconds(unanswered_after, "--unanswered-after", 0.1, 86_400)
        rows, recent = run(watch_for(conn, topics, window_s, unanswered_s))
    except NexusError as exc:  # one line, also when called outside the `nexus-tui` group
        fail(str(exc))
        return
    emit(_json_rows(rows, recent), _human(rows, recent, window_s))

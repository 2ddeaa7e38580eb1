"""Headless cluster commands: topics, topic describe, groups, group describe, dispatch."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from core.cluster.admin import KafkaAdmin, NotFound
from core.config.settings import ConnectionSettings
from core.engine.monitor import ClusterMonitor, GroupHealth, MonitorView, TopicHealth
from core.errors import ConfigError
from core.health.units import fmt_duration
from core.wire.partitioner import partition_for_key
from nexus_tui.cli.connection import run, with_connection
from nexus_tui.cli.output import emit, json_mode
from nexus_tui.cli.table import render_table

if TYPE_CHECKING:  # the dispatch path (publisher, aiokafka) is imported when it runs
    from core.cluster.dispatch import DispatchResult


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


# ---- topics --------------------------------------------------------------------------------


def topic_json(t: TopicHealth) -> dict[str, Any]:
    info = t.info
    return {
        "topic": info.name, "partitions": len(info.partitions),
        "replication_factor": info.replication_factor, "records": info.records,
        "msgs_per_s": t.msgs_per_s, "under_replicated": info.under_replicated,
        "offline": info.offline, "groups": list(t.groups), "max_lag": t.max_lag,
        "skew": {"cv": round(t.skew.cv, 3), "max_over_mean": round(t.skew.max_over_mean, 3),
                 "level": t.skew.level, "hot_partitions": list(t.skew.hot_partitions)},
        "configs": info.configs, "internal": info.internal,
    }


async def _view(conn: ConnectionSettings, samples: float = 0, **kw: Any) -> MonitorView:
    """One snapshot, or several over `samples` seconds for rates and time lag."""
    monitor = ClusterMonitor(conn, **kw)
    view = await monitor.refresh()
    deadline = time.monotonic() + samples
    while time.monotonic() < deadline:
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        view = await monitor.refresh()
    return view


@click.command()
@click.option("--filter", "topic_filter", default=None, metavar="REGEX", help="Topic regex.")
@click.option("--internal", is_flag=True, help="Include internal topics (__consumer_offsets...).")
@click.option("--sample", type=click.FloatRange(0, 300), default=0, show_default=True,
              help="Seconds to sample for produce rates (0: one snapshot, no rates).")
@with_connection
def topics(conn: ConnectionSettings, topic_filter: str | None, internal: bool,
           sample: float) -> None:
    """Topics with partitions, replication, records, rates, consuming groups, lag and skew."""
    view = run(_view(conn, sample, topic_filter=topic_filter, include_internal=internal))
    rows = [topic_json(t) for t in view.topics.values()]
    emit(rows, render_table(
        ["TOPIC", "PARTS", "RF", "RECORDS", "MSG/S", "URP", "GROUPS", "MAX LAG", "SKEW"],
        [[r["topic"], r["partitions"], r["replication_factor"], f"{r['records']:,}",
          _num(r["msgs_per_s"]), r["under_replicated"], len(r["groups"]),
          "-" if r["max_lag"] is None else f"{r['max_lag']:,}", r["skew"]["level"]]
         for r in rows]))


@click.command("describe")
@click.argument("topic")
@click.option("--root-id", default=None, help="Show which partition this root id lands on.")
@click.option("--sample", type=click.FloatRange(0, 300), default=0, show_default=True,
              help="Seconds to sample for produce rates.")
@with_connection
def topic_describe(conn: ConnectionSettings, topic: str, root_id: str | None,
                   sample: float) -> None:
    """Partitions of TOPIC (leader, replicas, ISR, offsets, records, rate) and its skew."""
    view = run(_view(conn, sample, topic_filter=f"^{_escape(topic)}$", include_internal=True))
    health = view.topics.get(topic)
    if health is None:
        raise NotFound(f"topic {topic} does not exist")
    data = topic_json(health)
    data["partition_detail"] = [
        {"partition": p.partition, "leader": p.leader, "replicas": list(p.replicas),
         "isr": list(p.isr), "log_start": p.log_start, "log_end": p.log_end,
         "records": p.records, "msgs_per_s": health.partition_rates.get(p.partition),
         "under_replicated": p.under_replicated, "offline": p.offline,
         "hot": p.partition in health.skew.hot_partitions}
        for p in health.info.partitions
    ]
    if root_id is not None:
        data["root_id"] = {"root_id": root_id, "partition": partition_for_key(
            root_id.encode(), len(health.info.partitions))}
    lines = [f"{topic}: {data['partitions']} partitions, RF {data['replication_factor']}, "
             f"{data['records']:,} records, skew {health.skew.level} "
             f"(cv {health.skew.cv:.2f}, max/mean {health.skew.max_over_mean:.2f})",
             render_table(["P", "LEADER", "REPLICAS", "ISR", "START", "END", "RECORDS", "MSG/S"],
                          [[d["partition"], d["leader"], d["replicas"], d["isr"], d["log_start"],
                            d["log_end"], d["records"], _num(d["msgs_per_s"])]
                           for d in data["partition_detail"]])]
    if root_id is not None:
        lines.append(f"root id {root_id!r} → partition {data['root_id']['partition']}")
    emit(data, "\n".join(lines))


@click.group("topic")
def topic() -> None:
    """One topic."""


topic.add_command(topic_describe)


def _escape(name: str) -> str:
    import re

    return re.escape(name)


# ---- groups --------------------------------------------------------------------------------


def group_json(g: GroupHealth) -> dict[str, Any]:
    return {
        "group": g.group_id, "state": g.state, "members": g.members, "total_lag": g.total_lag,
        "max_lag": g.max_lag, "time_lag_s": g.time_lag_s, "eta_s": None if g.eta_s is None
        else (None if g.eta_s == float("inf") else g.eta_s), "draining": g.eta_s is not None
        and g.eta_s != float("inf"), "trend": g.trend.value, "status": g.status.value,
        "reason": g.reason, "topics": list(g.topics), "data_loss_partitions": g.data_loss,
        "error": g.error,
    }


@click.command()
@click.option("--filter", "group_filter", default=None, metavar="REGEX", help="Group regex.")
@click.option("--sample", type=click.FloatRange(0, 600), default=0, show_default=True,
              help="Seconds to sample for time lag, ETA, trend and status (0: one snapshot).")
@with_connection
def groups(conn: ConnectionSettings, group_filter: str | None, sample: float) -> None:
    """Consumer groups: state, members, lag in offsets and seconds, ETA, trend, status."""
    view = run(_view(conn, sample, group_filter=group_filter, configs=False))
    rows = [group_json(g) for g in view.groups.values()]
    errors = any(g.error for g in view.groups.values())  # e.g. a group it may not describe
    emit(rows, render_table(
        ["GROUP", "STATE", "MEMBERS", "LAG", "TIME LAG", "ETA", "TREND", "STATUS"]
        + (["ERROR"] if errors else []),
        [[r["group"], r["state"], r["members"],
          "-" if r["total_lag"] is None else f"{r['total_lag']:,}",
          fmt_duration(r["time_lag_s"]), fmt_duration(g.eta_s), r["trend"], r["status"]]
         + ([g.error or "-"] if errors else [])
         for r, g in zip(rows, view.groups.values(), strict=True)]))


@click.group("group")
def group() -> None:
    """One consumer group."""


@group.command("describe")
@click.argument("group_id", metavar="GROUP")
@with_connection
def group_describe(conn: ConnectionSettings, group_id: str) -> None:
    """Per-partition committed offset, log start/end, lag and member of GROUP."""

    async def describe() -> tuple[Any, Any]:
        admin = KafkaAdmin(conn)
        info = await admin.group(group_id)  # NotFound for an unknown group
        snap = await admin.snapshot(group_filter=f"^{_escape(group_id)}$", configs=False,
                                    topic_filter="^(" + "|".join(_escape(t) for t in info.topics)
                                    + ")$" if info.topics else "^$")
        return snap, info  # described: coordinator and assignor too (snapshots skip those
        # of Empty groups)

    snap, info = run(describe())
    rows = snap.partition_lags(group_id) if group_id in snap.groups else []
    known = [r.lag for r in rows if r.lag is not None]
    data = {
        "group": group_id, "state": info.state, "protocol": info.protocol,
        "coordinator": info.coordinator,
        "members": [{"member_id": m.member_id, "client_id": m.client_id, "host": m.host,
                     "assignment": [list(a) for a in m.assignment]} for m in info.members],
        "total_lag": sum(known) if known else None,
        "partitions": [{"topic": r.topic, "partition": r.partition, "committed": r.committed,
                        "log_start": r.log_start, "log_end": r.log_end, "lag": r.lag,
                        "member": r.member, "client_id": r.client_id, "host": r.host,
                        "data_loss": r.data_loss} for r in rows],
    }
    head = (f"group {group_id}: {info.state}, {len(info.members)} member(s), total lag "
            f"{'-' if data['total_lag'] is None else format(data['total_lag'], ',')}")
    emit(data, head + "\n" + render_table(
        ["TOPIC", "P", "COMMITTED", "LOG START", "LOG END", "LAG", "MEMBER", "HOST"],
        [[r.topic, r.partition, "-" if r.committed is None else r.committed, r.log_start,
          r.log_end, "-" if r.lag is None else r.lag, r.client_id or "-", r.host or "-"]
         + (["DATA LOSS"] if r.data_loss else []) for r in rows]))


# ---- dispatch ------------------------------------------------------------------------------


def dispatch_json(result: DispatchResult) -> dict[str, Any]:
    return {
        "topic": result.request.destination_topic, "partition": result.delivery.partition,
        "offset": result.delivery.offset, "id": result.request.id,
        "root_id": result.request.root_id,
        "reply": json.loads(result.reply.encode()) if result.reply else None,
        "reply_kind": result.reply.kind.value if result.reply else None,
        "error": result.error, "ack_ms": _ms(result.ack_ms), "reply_ms": _ms(result.reply_ms),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@click.command()
@click.argument("topic")
@click.option("--payload", required=True, help="The request payload, as JSON.")
@click.option("--root-id", default=None, help="Conversation id (generated when omitted).")
@click.option("--reply-timeout", type=click.FloatRange(0, 3600), default=30.0,
              show_default=True, help="Seconds to wait for the reply (0: don't wait).")
@click.option("--reply-topic", default=None, help="Where replies land (config: reply_topic).")
@click.option("--source-topic", default=None, help="source_topic of the request.")
@with_connection(writes="dispatch")
def dispatch(conn: ConnectionSettings, topic: str, payload: str, root_id: str | None,
             reply_timeout: float, reply_topic: str | None, source_topic: str | None) -> None:
    """Send a test request to TOPIC; print the broker's ack and the reply.

    Two latencies, both from the moment the record is handed to the producer (connections
    are made before): the broker's ack (ack_ms) and the reply (reply_ms). Exit 0 with a
    reply, 3 with an error reply, 1 when no reply came in time."""
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--payload is not valid JSON: {exc.msg} at char {exc.pos}") from None
    except RecursionError:
        raise ConfigError("--payload is JSON nested too deeply") from None
    from core.cluster.dispatch import dispatch_once
    from core.config.contexts import load_settings

    result = run(dispatch_once(
        conn, topic, body, root_id=root_id, reply_timeout=reply_timeout,
        reply_topic=reply_topic or load_settings().reply_topic, source_topic=source_topic))
    data = dispatch_json(result)
    human = (f"sent to {topic}[{data['partition']}] at offset {data['offset']} "
             f"(id {data['id']}), acked in {_num(result.ack_ms)} ms")
    if result.reply is not None:
        human += (f"\n{data['reply_kind']} in {_num(result.reply_ms)} ms:\n"
                  + json.dumps(result.reply.payload_json(), indent=2))
    emit(data, human)
    if result.error is not None:
        line = json.dumps({"error": result.error}) if json_mode() else f"error: {result.error}"
        click.echo(line, err=True)
        sys.exit(3 if result.reply is not None else 1)

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
from core.health.units import fmt_duration, fmt_time_lag
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
    """One snapshot, or several over `samples` seconds for rates and time lag. With
    `exact_time_lag=True` the committed records' timestamps are read on the last one only."""
    monitor = ClusterMonitor(conn, **kw)
    try:
        deadline = time.monotonic() + samples
        view = await monitor.refresh(exact=samples <= 0)
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(1.0, left))
            view = await monitor.refresh(exact=left <= 1.0)
        return view
    finally:
        await monitor.close()


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


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def group_json(g: GroupHealth) -> dict[str, Any]:
    """A group's line. `time_lag_s`: null when unknown; with `time_lag_is_lower_bound` true it
    is only known to be at least that (core/engine/time_lag.py)."""
    return {
        "group": g.group_id, "state": g.state, "members": g.members, "total_lag": g.total_lag,
        "max_lag": g.max_lag, "time_lag_s": _seconds(g.time_lag_s),
        "time_lag_is_lower_bound": g.time_lag_lower_bound, "eta_s": None if g.eta_s is None
        else (None if g.eta_s == float("inf") else g.eta_s), "draining": g.eta_s is not None
        and g.eta_s != float("inf"), "trend": g.trend.value, "status": g.status.value,
        "reason": g.reason, "topics": list(g.topics), "data_loss_partitions": g.data_loss,
        "error": g.error,
    }


@click.command()
@click.option("--filter", "group_filter", default=None, metavar="REGEX", help="Group regex.")
@click.option("--sample", type=click.FloatRange(0, 600), default=0, show_default=True,
              help="Seconds to sample for ETA, trend and status (0: one snapshot).")
@with_connection
def groups(conn: ConnectionSettings, group_filter: str | None, sample: float) -> None:
    """Consumer groups: state, members, lag in offsets and seconds, ETA, trend, status.

    Time lag is exact when the record at the committed offset can be read (its timestamp),
    "≥ N s" when only a lower bound is known (that record is gone), "-" when unknown."""
    view = run(_view(conn, sample, group_filter=group_filter, configs=False,
                     exact_time_lag=True))
    rows = [group_json(g) for g in view.groups.values()]
    errors = any(g.error for g in view.groups.values())  # e.g. a group it may not describe
    emit(rows, render_table(
        ["GROUP", "STATE", "MEMBERS", "LAG", "TIME LAG", "ETA", "TREND", "STATUS"]
        + (["ERROR"] if errors else []),
        [[r["group"], r["state"], r["members"],
          "-" if r["total_lag"] is None else f"{r['total_lag']:,}",
          fmt_time_lag(g.time_lag_s, g.time_lag_lower_bound), fmt_duration(g.eta_s), r["trend"],
          r["status"]]
         + ([g.error or "-"] if errors else [])
         for r, g in zip(rows, view.groups.values(), strict=True)]))


@click.group("group")
def group() -> None:
    """One consumer group."""


@group.command("describe")
@click.argument("group_id", metavar="GROUP")
@click.option("--sample", type=click.FloatRange(0, 600), default=0, show_default=True,
              help="Seconds to sample for the partitions' status (0: one snapshot).")
@with_connection
def group_describe(conn: ConnectionSettings, group_id: str, sample: float) -> None:
    """Per-partition committed offset, log start/end, lag, time lag and member of GROUP.

    Time lag is exact when the record at the committed offset can be read (its timestamp),
    "≥ N s" when only a lower bound is known (that record is gone), "-" when unknown."""

    async def describe() -> tuple[Any, Any]:
        admin = KafkaAdmin(conn)
        info = await admin.group(group_id)  # NotFound for an unknown group
        # described: coordinator and assignor too (snapshots skip those of Empty groups)
        view = await _view(conn, sample, group_filter=f"^{_escape(group_id)}$", configs=False,
                           exact_time_lag=True, topic_filter="^(" + "|".join(
                               _escape(t) for t in info.topics) + ")$" if info.topics else "^$")
        return view.groups.get(group_id), info

    health, info = run(describe())
    parts = health.partitions if health is not None else ()
    known = [p.offset_lag for p in parts if p.offset_lag is not None]
    data = {
        "group": group_id, "state": info.state, "protocol": info.protocol,
        "coordinator": info.coordinator,
        "members": [{"member_id": m.member_id, "client_id": m.client_id, "host": m.host,
                     "assignment": [list(a) for a in m.assignment]} for m in info.members],
        "total_lag": sum(known) if known else None,
        "time_lag_s": None if health is None else _seconds(health.time_lag_s),
        "time_lag_is_lower_bound": health is not None and health.time_lag_lower_bound,
        "status": None if health is None else health.status.value,
        "reason": None if health is None else health.reason,
        "partitions": [{"topic": p.topic, "partition": p.partition, "committed": p.committed,
                        "log_start": p.log_start, "log_end": p.log_end, "lag": p.offset_lag,
                        "time_lag_s": _seconds(p.time_lag_s),
                        "time_lag_is_lower_bound": p.time_lag_lower_bound,
                        "member": p.member, "client_id": p.client_id, "host": p.host,
                        "data_loss": p.data_loss, "status": p.status_value}
                       for p in parts],
    }
    head = (f"group {group_id}: {info.state}, {len(info.members)} member(s), total lag "
            f"{'-' if data['total_lag'] is None else format(data['total_lag'], ',')}, time lag "
            + (fmt_time_lag(health.time_lag_s, health.time_lag_lower_bound) if health else "-"))
    emit(data, head + "\n" + render_table(
        ["TOPIC", "P", "COMMITTED", "LOG START", "LOG END", "LAG", "TIME LAG", "MEMBER", "HOST"],
        [[p.topic, p.partition, "-" if p.committed is None else p.committed, p.log_start,
          p.log_end, "-" if p.offset_lag is None else p.offset_lag,
          fmt_time_lag(p.time_lag_s, p.time_lag_lower_bound), p.client_id or "-", p.host or "-"]
         + (["DATA LOSS"] if p.data_loss else []) for p in parts]))


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

"""Topic and consumer-group administration: `topic create|alter|add-partitions|purge|delete`,
`group delete|delete-offsets`. Destructive commands are dry runs that print the plan unless
`--execute`; every run is recorded in the audit log (core/cluster/audit.py)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

import click

from core.cluster.admin_plan import AdminPlan, parse_config_pairs, parse_partition_offsets
from core.cluster.audit import parse_since
from core.cluster.group_admin import GroupAdmin
from core.cluster.topic_admin import TopicAdmin
from core.config.settings import ConnectionSettings
from core.errors import ConfigError
from nexus_tui.cli.connection import run, with_connection
from nexus_tui.cli.ops import group, topic
from nexus_tui.cli.output import emit

execute_option = click.option("--execute", is_flag=True,
                              help="Apply the change (default: a dry run printing the plan).")


def _report(conn: ConnectionSettings,
            done: Awaitable[tuple[AdminPlan, dict[str, Any] | None]], execute: bool) -> None:
    plan, result = run(done)  # type: ignore[arg-type]
    command = plan.kafka_command(conn.bootstrap)
    data = plan.to_dict(conn.bootstrap)
    data.update({"executed": execute, "result": result})
    lines = plan.lines()
    if execute:
        lines.append("done: " + ", ".join(f"{k} {v}" for k, v in (result or {}).items()))
    else:
        if plan.refusal:
            lines[-1] = f"warning: --execute would be refused: {plan.refusal}"
        lines.append("dry run: nothing changed; add --execute to apply")
    lines.append(f"same with Kafka's tool: {command}")
    emit(data, "\n".join(lines))


# ---- topics ------------------------------------------------------------------------------------


@topic.command("create")
@click.argument("name")
@click.option("--partitions", type=int, required=True, help="Number of partitions.")
@click.option("--replication-factor", type=int, default=None,
              help="Replicas per partition (default: the broker's default).")
@click.option("--config", "configs", multiple=True, metavar="KEY=VALUE",
              help="Topic config (repeatable), e.g. retention.ms=86400000.")
@click.option("--dry-run", is_flag=True, help="Only validate (the broker's validate_only).")
@with_connection
def topic_create(conn: ConnectionSettings, name: str, partitions: int,
                 replication_factor: int | None, configs: tuple[str, ...], dry_run: bool
                 ) -> None:
    """Create topic NAME (Kafka's naming rules are errors, the Nexus scheme a warning)."""
    _report(conn, TopicAdmin(conn).create(name, partitions, replication_factor,
                                          parse_config_pairs(configs), execute=not dry_run),
            not dry_run)


@topic.command("alter")
@click.argument("name")
@click.option("--config", "configs", multiple=True, metavar="KEY=VALUE",
              help="Set a topic config (repeatable).")
@click.option("--delete-config", "deletes", multiple=True, metavar="KEY",
              help="Remove a topic config override: back to the default (repeatable).")
@execute_option
@with_connection
def topic_alter(conn: ConnectionSettings, name: str, configs: tuple[str, ...],
                deletes: tuple[str, ...], execute: bool) -> None:
    """Change NAME's configs (incremental); each key before → after with its source."""
    _report(conn, TopicAdmin(conn).alter(name, parse_config_pairs(configs),
                                         list(dict.fromkeys(deletes)), execute), execute)


@topic.command("add-partitions")
@click.argument("name")
@click.option("--to", "to", type=int, required=True, help="The new partition count.")
@execute_option
@with_connection
def topic_add_partitions(conn: ConnectionSettings, name: str, to: int, execute: bool) -> None:
    """Raise NAME's partition count to N, saying how many recent conversations
    (root ids: murmur2(key) mod N) would land on another partition."""
    _report(conn, TopicAdmin(conn).add_partitions(name, to, execute), execute)


@topic.command("purge")
@click.argument("name")
@click.option("--before-offset", "offsets", multiple=True, metavar="P:O",
              help="Delete partition P's records before offset O (repeatable).")
@click.option("--before-time", metavar="T",
              help="Delete records older than T: a datetime (YYYY-MM-DDTHH:mm:SS[.sss][Z]) "
                   "or an ISO-8601 duration ago (PT1H).")
@click.option("--all", "everything", is_flag=True, help="Delete every record.")
@execute_option
@with_connection
def topic_purge(conn: ConnectionSettings, name: str, offsets: tuple[str, ...],
                before_time: str | None, everything: bool, execute: bool) -> None:
    """Delete NAME's oldest records (DeleteRecords): the log start moves up."""
    before_ms = None
    if before_time is not None:
        before_ms = parse_since(before_time, int(time.time() * 1000), "--before-time")
    _report(conn, TopicAdmin(conn).purge(
        name, parse_partition_offsets(offsets) if offsets else None, before_ms, everything,
        execute), execute)


@topic.command("delete")
@click.argument("name")
@click.option("--confirm", metavar="NAME", default=None,
              help="The topic's name again (required with --execute).")
@execute_option
@with_connection
def topic_delete(conn: ConnectionSettings, name: str, confirm: str | None,
                 execute: bool) -> None:
    """Delete topic NAME (internal topics are refused); shows the groups still on it."""
    _report(conn, TopicAdmin(conn).delete(name, execute, confirm), execute)


# ---- groups ------------------------------------------------------------------------------------


@group.command("delete")
@click.argument("group_id", metavar="GROUP")
@execute_option
@with_connection
def group_delete(conn: ConnectionSettings, group_id: str, execute: bool) -> None:
    """Delete GROUP and its committed offsets (refused while it has members)."""
    _report(conn, GroupAdmin(conn).delete(group_id, execute), execute)


@group.command("delete-offsets")
@click.argument("group_id", metavar="GROUP")
@click.option("--topic", "topic_name", required=True, metavar="TOPIC",
              help="The topic whose committed offsets go.")
@execute_option
@with_connection
def group_delete_offsets(conn: ConnectionSettings, group_id: str, topic_name: str,
                         execute: bool) -> None:
    """Delete GROUP's committed offsets on TOPIC (refused while it consumes TOPIC)."""
    if not topic_name.strip():
        raise ConfigError("--topic needs a topic name")
    _report(conn, GroupAdmin(conn).delete_offsets(group_id, topic_name, execute), execute)

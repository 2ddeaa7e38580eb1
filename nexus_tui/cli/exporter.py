"""`nexus-tui exporter`: Prometheus metrics for many clusters from one process."""

from __future__ import annotations

import logging
import re
import sys

import click

from core.config.contexts import load_settings
from core.config.request import ConnectionRequest
from core.errors import ConfigError
from core.exporter import ClusterTarget, Exporter, FamilyOptions, MetricsServer
from nexus_tui.cli.connection import connection_from, run


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--listen {value!r}: expected HOST:PORT (e.g. 0.0.0.0:8000)")
    return host.strip("[]") or "0.0.0.0", int(port)


def targets_from(contexts: tuple[str, ...], all_contexts: bool, bootstraps: tuple[str, ...],
                 properties: tuple[str, ...], timeout_s: float | None) -> list[ClusterTarget]:
    """The clusters to collect: the named contexts (or all of them) and each -b, else the
    current context. Label values are context names or bootstrap lists, never secrets."""
    settings = load_settings()
    names = list(contexts)
    if all_contexts:
        names += [n for n in sorted(settings.contexts) if n not in names]
        if not settings.contexts:
            raise ConfigError("--all-contexts: no contexts configured")
    targets = []
    for name in names:  # ConfigError for an unknown one
        _, conn = ConnectionRequest(None, name, properties, True, timeout_s).resolve(settings)
        targets.append(ClusterTarget(name, conn))
    for bootstrap in bootstraps:
        conn = connection_from(bootstrap, None, properties, True, timeout_s, settings)
        targets.append(ClusterTarget(conn.bootstrap, conn))
    if not targets:
        name, _ = settings.context(None)
        targets.append(ClusterTarget(name, connection_from(None, None, properties, True,
                                                           timeout_s, settings)))
    seen: set[str] = set()
    for t in targets:
        if t.name in seen:
            raise ConfigError(f"cluster {t.name!r} given twice")
        seen.add(t.name)
    return targets


def _regex(value: str | None, option: str) -> None:
    if value:
        try:
            re.compile(value)
        except re.error as exc:
            raise ConfigError(f"{option} {value!r} is not a valid regex: {exc}") from None


@click.command()
@click.option("--listen", default="0.0.0.0:8000", show_default=True, metavar="HOST:PORT",
              help="Where to serve /metrics and /healthz (port 0: any free port).")
@click.option("--context", "contexts", multiple=True, metavar="NAME",
              help="A cluster from the config file (repeatable).")
@click.option("--all-contexts", is_flag=True, help="Every cluster of the config file.")
@click.option("-b", "--bootstrap", "bootstraps", multiple=True, metavar="HOST:PORT[,...]",
              help="A cluster by its bootstrap servers (repeatable; labelled by them).")
@click.option("-X", "properties", multiple=True, metavar="KEY=VALUE",
              help="Raw librdkafka client property for every cluster (repeatable).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.5, 600), default=None,
              help="Seconds to wait for a cluster on each request (default 10).")
@click.option("--interval", "interval_s", type=click.FloatRange(0.2, 3600), default=15.0,
              show_default=True, help="Seconds between collections of each cluster.")
@click.option("--partition-metrics/--no-partition-metrics", default=True, show_default=True,
              help="Per-partition series (offsets, lag, time lag); off for fewer series.")
@click.option("--traffic/--no-traffic", default=True, show_default=True,
              help="Nexus traffic per topic (requests, replies, error replies, unanswered, "
                   "reply latency, dead letters, undecodable records): tails the Nexus "
                   "topics, without a consumer group.")
@click.option("--topics", "topic_filter", default=None, metavar="REGEX",
              help="Only topics matching this regex.")
@click.option("--groups", "group_filter", default=None, metavar="REGEX",
              help="Only consumer groups matching this regex.")
def exporter(listen: str, contexts: tuple[str, ...], all_contexts: bool,
             bootstraps: tuple[str, ...], properties: tuple[str, ...], timeout_s: float | None,
             interval_s: float, partition_metrics: bool, traffic: bool, topic_filter: str | None,
             group_filter: str | None) -> None:
    """Serve Prometheus metrics (kafka-lag-exporter's names, and ours) for one or many
    clusters, each collected on its own schedule; /healthz says whether all are current."""
    host, port = _listen(listen)
    _regex(topic_filter, "--topics")
    _regex(group_filter, "--groups")
    targets = targets_from(contexts, all_contexts, bootstraps, properties, timeout_s)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="exporter: %(message)s")
    try:
        exp = Exporter(targets, host=host, port=port, interval_s=interval_s,
                       topic_filter=topic_filter, group_filter=group_filter,
                       options=FamilyOptions(partition_metrics=partition_metrics),
                       traffic=traffic)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}") from None

    def started(server: MetricsServer) -> None:
        h, p = server.address
        click.echo(f"exporter: serving http://{h}:{p}/metrics for "
                   f"{', '.join(t.name for t in targets)} every {interval_s:g} s", err=True)

    run(exp.run(started))

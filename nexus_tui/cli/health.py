"""`nexus-tui health`: one verdict for scripts and cron (Nagios exit codes)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from core.config.settings import ConnectionSettings
from core.engine.monitor import ClusterMonitor, LagTracker, MonitorView
from core.engine.problems import Problem, Severity, Thresholds, cluster_problems, verdict
from core.errors import NexusError
from core.health.burrow import DEFAULT_WINDOW
from core.traffic.window import MAX_WINDOW_S, TopicTraffic
from nexus_tui.cli.connection import connection_options, pop_connection, run
from nexus_tui.cli.output import json_mode

if TYPE_CHECKING:  # aiokafka is imported only when traffic is watched
    from core.traffic.watcher import TrafficWatcher

CANNOT_TELL = 3
MIN_PERIOD_S = 0.2


async def _traffic_watch(conn: ConnectionSettings, window_s: float,
                         topic_filter: str | None) -> TrafficWatcher | None:
    """A started TrafficWatcher on the cluster's Nexus topics (those matching the filter),
    or None when there are none."""
    import re

    from core.cluster.admin import KafkaAdmin
    from core.traffic.watcher import TrafficWatcher
    from core.wire.topic_names import traffic_topics

    admin = KafkaAdmin(conn)
    chosen = [t for t in traffic_topics(await admin.topic_names())
              if topic_filter is None or re.search(topic_filter, t)]
    if not chosen:
        return None
    watcher = TrafficWatcher(conn, chosen, window_s=min(MAX_WINDOW_S, math.ceil(window_s) + 1),
                             admin=admin)
    await watcher.start()
    await watcher.positioned()
    return watcher


async def check(conn: ConnectionSettings, sample_s: float, thresholds: Thresholds,
                topic_filter: str | None, group_filter: str | None,
                traffic: bool) -> tuple[MonitorView, list[Problem]]:
    """Sample the cluster for `sample_s` seconds (a full Burrow window of snapshots) and list
    its problems."""
    monitor = ClusterMonitor(conn, topic_filter=topic_filter, group_filter=group_filter,
                             configs=False, tracker=LagTracker(), exact_time_lag=True)
    try:
        return await _sample(monitor, conn, sample_s, thresholds, topic_filter, traffic)
    finally:
        await monitor.close()


async def _sample(monitor: ClusterMonitor, conn: ConnectionSettings, sample_s: float,
                  thresholds: Thresholds, topic_filter: str | None,
                  traffic: bool) -> tuple[MonitorView, list[Problem]]:
    # the committed records' timestamps (exact time lag) are read on the last refresh only
    refreshes = DEFAULT_WINDOW - 1 if sample_s > 0 else 0
    view = await monitor.refresh(exact=refreshes == 0)  # unreachable: raises first
    watcher = (await _traffic_watch(conn, sample_s, topic_filter) if traffic and sample_s > 0
               else None)
    try:
        # a full Burrow window: DEFAULT_WINDOW snapshots spread over the sample
        period = max(MIN_PERIOD_S, sample_s / max(1, refreshes))
        started = time.monotonic()
        for i in range(1, refreshes + 1):
            await asyncio.sleep(max(0.0, started + i * period - time.monotonic()))
            view = await monitor.refresh(exact=i == refreshes)
        seen: list[TopicTraffic] = list(watcher.stats().values()) if watcher else []
    finally:
        if watcher is not None:
            await watcher.stop()
    return view, cluster_problems(view, None, view.now, thresholds, seen)


def _json(view: MonitorView | None, problems: list[Problem], worst: Severity | None,
          error: str | None, sample_s: float) -> dict[str, Any]:
    return {
        "verdict": "UNKNOWN" if worst is None else worst.name,
        "exit_code": CANNOT_TELL if worst is None else int(worst),
        "error": error,
        "problems": [{"severity": p.severity.name, "kind": p.kind, "subject": p.subject,
                      "reason": p.reason} for p in problems],
        "checked": None if view is None else {
            "brokers": len(view.snapshot.brokers), "topics": len(view.topics),
            "groups": len(view.groups), "sample_s": sample_s},
    }


@click.command()
@click.option("--sample", "sample_s", type=click.FloatRange(0, 600), default=10.0,
              show_default=True, help="Seconds to sample: a Burrow window of snapshots for "
              "group status, and live Nexus traffic (0: one snapshot, no status or traffic).")
@click.option("--max-time-lag", "max_time_lag_s", type=click.FloatRange(0), default=None,
              metavar="SECONDS", help="A group further behind than this is ERR.")
@click.option("--max-error-ratio", type=click.FloatRange(0, 1), default=None, metavar="R",
              help="A topic whose error replies / replies exceed this is ERR (e.g. 0.05).")
@click.option("--topics", "topic_filter", default=None, metavar="REGEX",
              help="Only topics matching this regex.")
@click.option("--groups", "group_filter", default=None, metavar="REGEX",
              help="Only consumer groups matching this regex.")
@click.option("--no-traffic", is_flag=True, help="Do not watch Nexus traffic.")
@connection_options
def health(sample_s: float, max_time_lag_s: float | None, max_error_ratio: float | None,
           topic_filter: str | None, group_filter: str | None, no_traffic: bool,
           **kwargs: Any) -> None:
    """One verdict: exit 0 OK, 1 WARN, 2 ERR, 3 cannot tell (unreachable, bad settings).

    Lists each problem in one line with its reason: groups not OK (Burrow status and why),
    time lag over --max-time-lag, offline and under-replicated partitions, brokers down, hot
    partitions, error replies over --max-error-ratio and dead-letter inflow."""
    view: MonitorView | None = None
    problems: list[Problem] = []
    worst: Severity | None = None
    error: str | None = None
    try:
        conn = pop_connection(kwargs)
        view, problems = run(check(conn, sample_s, Thresholds(max_time_lag_s, max_error_ratio),
                                   topic_filter, group_filter, traffic=not no_traffic))
        worst = verdict(problems)
    except NexusError as exc:
        error = str(exc)
    if json_mode():
        import json

        click.echo(json.dumps(_json(view, problems, worst, error, sample_s)))
    elif worst is None:
        click.echo(f"UNKNOWN: {error}")
    else:
        assert view is not None
        head = (f"{worst.name}: {len(problems)} problem(s)" if problems else
                f"OK: {len(view.groups)} group(s), {len(view.topics)} topic(s), "
                f"{len(view.snapshot.brokers)} broker(s), nothing wrong")
        click.echo("\n".join([head, *(p.line() for p in problems)]))
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    sys.exit(CANNOT_TELL if worst is None else int(worst))

"""Faults on a real 3-broker cluster (RF 3, min ISR 2): a broker SIGKILLed under a publisher, the
group coordinator SIGKILLed under a subscriber, a full-cluster outage under the TUI and the CLI,
one broker down as the dashboard shows it. Every killed broker is started again and the cluster
is healed (all replicas in sync) before the next test.

The figures of each run are printed (run with -s) and written to tests/output/reliability.json;
RELIABILITY.md quotes them.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from textual.widgets import Static

from core import Envelope, HandlerContext, KafkaPublisher, KafkaSubscriber
from core.cluster.admin import KafkaAdmin
from core.config.settings import ConnectionSettings
from core.local.cluster import metadata_broker_ids
from core.local.tools import run_tool
from core.messaging.metrics import ClientMetrics
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.coreloop import CoreLoop
from nexus_tui.screens.base import Banner
from nexus_tui.source import LiveSource
from nexus_tui.widgets import KeyedTable
from tests.app_helpers import one_error_line, run_cli, wait_on
from tests.kafka_helpers import create_topic, end_offsets, wait_until

pytestmark = pytest.mark.cluster3

ROOT = Path(__file__).resolve().parent.parent
FIGURES = Path(os.environ.get("NEXUS_TUI_FIGURES", ROOT / "tests" / "output" / "reliability.json"))
SIZE = (160, 50)
N_PUBLISH = 50_000  # the N: it fits (about 10 s with the failover) on 2 cores
N_SUBSCRIBE = 20_000
OUTAGE_S = 20.0  # > 2 × the TUI's 8 s backoff cap and librdkafka's 10 s reconnect backoff cap


def record_figures(scenario: str, figures: dict[str, Any]) -> None:
    """Print the figures of a scenario and merge them into the figures file."""
    figures = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
    print(f"\nFIGURES {scenario}: {json.dumps(figures)}")
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(FIGURES.read_text())
    except (OSError, ValueError):
        data = {}
    data[scenario] = {**figures, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _under_replicated(bootstrap: str) -> int | None:
    """Partitions (internal ones included) with fewer in-sync replicas than replicas."""
    try:
        md = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=5)
    except Exception:  # KafkaException: not answering yet
        return None
    return sum(1 for t in md.topics.values() for p in t.partitions.values()
               if len(p.isrs) < len(p.replicas))


def heal(kafka3) -> None:
    """Start every stopped broker and wait until every replica is back in sync."""
    cluster = kafka3.local
    dead = [n for n, alive in cluster.status().alive.items() if not alive]
    if dead:
        cluster.start_brokers(dead, timeout=90)
    deadline = time.monotonic() + 60
    while _under_replicated(kafka3.bootstrap) != 0:
        assert time.monotonic() < deadline, "the cluster did not heal within 60 s"
        time.sleep(0.2)  # poll interval of the deadline-bounded condition above


@pytest.fixture
def cluster3(kafka3) -> Iterator[Any]:
    """The shared 3-broker cluster, whole and in sync before and after the test."""
    if kafka3.local is None:
        pytest.skip("fault tests need a cluster this run started")
    heal(kafka3)
    try:
        yield kafka3
    finally:
        heal(kafka3)


def _leader_of(bootstrap: str, topic: str, partition: int) -> int:
    """The partition's leader, once every broker's metadata has the topic."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 30
    while True:
        md = admin.list_topics(topic, timeout=10).topics.get(topic)
        part = md.partitions.get(partition) if md is not None and md.error is None else None
        if part is not None and part.leader >= 0:
            return part.leader
        assert time.monotonic() < deadline, f"{topic}[{partition}] has no leader"
        time.sleep(0.1)  # poll interval of the deadline-bounded condition above


def _leaders_after(bootstrap: str, topic: str, victim: int, partitions: set[int]
                   ) -> dict[int, int]:
    """The leaders of `partitions` once the metadata no longer names `victim` for any of them
    (fails after 30 s: the leadership never moved)."""
    deadline = time.monotonic() + 30
    while True:
        leaders = {p: _leader_of(bootstrap, topic, p) for p in partitions}
        if victim not in leaders.values():
            return leaders
        assert time.monotonic() < deadline, f"{topic}: {victim} still leads {leaders}"
        time.sleep(0.1)  # poll interval of the deadline-bounded condition above


def _kafka_tool_keys(bootstrap: str, topic: str) -> list[str]:
    """Every record key of `topic`, read by Apache Kafka's own Java tools (not our clients):
    GetOffsetShell counts the records, ConsoleConsumer reads that many from the beginning."""
    ends = run_tool("org.apache.kafka.tools.GetOffsetShell",
                    ["--bootstrap-server", bootstrap, "--topic", topic, "--time", "-1"])
    assert ends.returncode == 0, ends.stderr
    total = sum(int(line.rsplit(":", 1)[1]) for line in ends.stdout.split())
    read = run_tool("org.apache.kafka.tools.consumer.ConsoleConsumer", [
        "--bootstrap-server", bootstrap, "--topic", topic, "--from-beginning",
        "--max-messages", str(total), "--timeout-ms", "30000",
        "--property", "print.key=true", "--property", "print.value=false"], timeout=180)
    assert read.returncode == 0, read.stderr
    return read.stdout.split()


# ---- a broker SIGKILLed while a publisher sends -------------------------------------------------


async def test_publisher_loses_and_duplicates_nothing_when_a_broker_is_killed(cluster3, unique):
    bootstrap = cluster3.bootstrap
    topic = f"{unique}.pub.v1"
    create_topic(bootstrap, topic, partitions=6, rf=3)
    victim = _leader_of(bootstrap, topic, 0)
    led_by_victim = {p for p in range(6) if _leader_of(bootstrap, topic, p) == victim}
    metrics = ClientMetrics()
    acked_at: list[float] = []
    sent_at: list[float] = []  # when each record was handed to the client
    window = 5_000  # records in flight at most: sending spans the failover, not just its start
    ids: list[str] = []
    futures: list[asyncio.Future] = []
    kill: asyncio.Task | None = None
    killed_after = acked_before_kill = 0

    def kill_victim() -> float:
        cluster3.local.kill_broker(victim)
        return time.monotonic()

    started = time.monotonic()
    async with KafkaPublisher(bootstrap, acks="all", idempotence=True,
                              metrics=metrics) as pub:
        for i in range(N_PUBLISH):
            env = Envelope.new_root("faults.pub.v1", topic, {"seq": i})
            ids.append(env.id)
            sent_at.append(time.monotonic())
            fut = pub.publish_nowait(env)
            fut.add_done_callback(lambda _f: acked_at.append(time.monotonic()))
            futures.append(fut)
            if i % 500 == 499:
                await wait_until(lambda: len(acked_at) >= len(futures) - window, 60,
                                 "the publisher's window to drain")
            if kill is None and i == N_PUBLISH // 3:
                killed_after, acked_before_kill = i + 1, len(acked_at)
                kill_at = time.monotonic()
                kill = asyncio.create_task(asyncio.to_thread(kill_victim))
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert kill is not None
        dead_at = await kill  # the victim's process is gone from here on
    all_acked_s = time.monotonic() - started
    raised = [r for r in results if isinstance(r, BaseException)]
    acked_ids = [i for i, r in zip(ids, results, strict=True) if not isinstance(r, BaseException)]
    failed_ids = {i for i, r in zip(ids, results, strict=True) if isinstance(r, BaseException)}

    counts = Counter(_kafka_tool_keys(bootstrap, topic))
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    lost = [i for i in acked_ids if counts[i] == 0]
    strangers = set(counts) - set(ids)
    after = sorted(t for t in acked_at if t >= kill_at)
    stall = max((b - a for a, b in zip([kill_at, *after], after, strict=False)), default=0.0)
    record_figures("publisher_broker_sigkill", {
        "sent": N_PUBLISH, "acked": len(acked_ids), "raised": len(raised),
        "publish_errors_metric": metrics.snapshot().total("publish_errors"),
        "killed_broker": victim, "killed_after_sent": killed_after,
        "acked_before_kill": acked_before_kill, "in_topic": sum(counts.values()),
        "lost": len(lost), "duplicated": duplicated, "longest_ack_stall_s": stall,
        "all_acked_s": all_acked_s,
    })
    # The failover happened under the publisher: records handed to the client after the
    # victim was dead were acked on the partitions it led (by their new leader, necessarily),
    # and the metadata names another leader for each of them.
    failed_over = [r for r, t in zip(results, sent_at, strict=True)
                   if not isinstance(r, BaseException) and t > dead_at
                   and r.partition in led_by_victim]
    assert failed_over, "no record sent after the kill was acked on the victim's partitions"
    assert {r.partition for r in failed_over} == led_by_victim
    assert all(leader != victim for leader in _leaders_after(bootstrap, topic, victim,
                                                             led_by_victim).values())
    assert metrics.snapshot().total("publish_errors") == len(raised)
    assert not lost, f"{len(lost)} acknowledged envelopes are missing, e.g. {lost[:3]}"
    assert duplicated == 0 and not strangers
    assert sum(counts.values()) == len(acked_ids) + sum(counts[i] for i in failed_ids)
    assert len(raised) == 0, f"acks=all + idempotence still failed: {raised[:3]}"


# ---- the group coordinator SIGKILLed while a subscriber processes --------------------------------


async def test_subscriber_processes_everything_when_its_coordinator_is_killed(cluster3, unique):
    bootstrap = cluster3.bootstrap
    topic, group = f"{unique}.sub.v1", f"{unique}-grp"
    create_topic(bootstrap, topic, partitions=6, rf=3)
    async with KafkaPublisher(bootstrap) as pub:
        envs = [Envelope.new_root("faults.sub.v1", topic, {"seq": i}) for i in range(N_SUBSCRIBE)]
        await pub.publish_many(envs)
    expected = {e.id for e in envs}
    seen: Counter[str] = Counter()
    handled_at: list[float] = []

    async def handle(ctx: HandlerContext) -> None:
        seen[ctx.envelope.id] += 1
        handled_at.append(time.monotonic())
        await asyncio.sleep(0.002)  # the handler's work: 500/s per partition, so processing
        # goes on for seconds after the kill, through the coordinator's failover

    admin = KafkaAdmin(ConnectionSettings(bootstrap=bootstrap, request_timeout_s=5))
    sub = KafkaSubscriber(bootstrap, group, session_timeout_ms=6000)
    sub.handle(topic, handle)
    await sub.start()
    try:
        await wait_until(lambda: len(handled_at) >= N_SUBSCRIBE // 4, 60, "a quarter handled")
        coordinator = None

        async def coordinator_known() -> bool:
            nonlocal coordinator
            coordinator = (await admin.describe_groups([group]))[group].coordinator
            return coordinator is not None

        await wait_until(coordinator_known, 30, "the group's coordinator")
        handled_before_kill = len(handled_at)
        kill_at = time.monotonic()
        await asyncio.to_thread(cluster3.local.kill_broker, coordinator)
        await wait_until(lambda: expected <= set(seen), 120, "every envelope handled")
        done_s = time.monotonic() - kill_at
        assert sub.failure is None
    finally:
        await sub.stop()
    new_coordinator = (await admin.describe_groups([group]))[group].coordinator
    committed = await admin.committed_offsets(group)
    ends = end_offsets(bootstrap, topic)
    after = [t for t in handled_at if t >= kill_at]
    stall = max((b - a for a, b in zip([kill_at, *after], after, strict=False)), default=0.0)
    record_figures("subscriber_coordinator_sigkill", {
        "messages": N_SUBSCRIBE, "killed_coordinator": coordinator,
        "new_coordinator": new_coordinator, "handled_before_kill": handled_before_kill,
        "handled": sum(seen.values()), "distinct_handled": len(seen),
        "lost": len(expected - set(seen)), "redelivered": sum(seen.values()) - len(seen),
        "all_handled_after_kill_s": done_s, "longest_handling_stall_s": stall,
    })
    assert handled_before_kill < N_SUBSCRIBE, "the kill came after everything was handled"
    assert expected == set(seen), "lost envelopes"
    assert new_coordinator is not None and new_coordinator != coordinator
    # what was handled is committed at the new coordinator: a restart would not lose it either
    assert committed == {(topic, p): end for p, end in ends.items()}


# ---- the TUI and the CLI through a full-cluster outage -------------------------------------------


@pytest.fixture
def make_app() -> Iterator[Callable[..., NexusApp]]:
    cores: list[CoreLoop] = []

    def make(bootstrap: str, refresh: float = 5.0) -> NexusApp:
        core = CoreLoop()
        cores.append(core)
        settings = ConnectionSettings(bootstrap=bootstrap, request_timeout_s=3.0)
        # groups included: the engine reads them without librdkafka (core/engine/group_reader.py),
        # so librdkafka's abort during broker restarts (#4605) cannot take it down
        source = LiveSource(settings, core)
        return NexusApp(source, AppOptions(context="faults", refresh_interval_s=refresh), core)

    yield make
    for core in cores:
        core.stop()








async def test_full_outage_tui_keeps_running_and_recovers_and_cli_fails_cleanly(
        cluster3, make_app):
    bootstrap = cluster3.bootstrap
    nodes = sorted(cluster3.local.status().alive)
    started = time.monotonic()
    cli_ok = await run_cli("groups", "-b", bootstrap, "--timeout", "3")  # the baseline: it answers
    interpreter_s = time.monotonic() - started
    assert cli_ok[0] == 0, cli_ok[2]
    app = make_app(bootstrap)  # the default refresh period (5 s) and backoff
    async with app.run_test(size=SIZE) as pilot:
        first_refresh_s = await wait_on(pilot, lambda: app.pulse is not None, 30,
                                        "the first refresh")
        banner = app.screen.query_one(Banner)
        assert not banner.display
        down_at = time.monotonic()
        for node in nodes:
            await asyncio.to_thread(cluster3.local.kill_broker, node)
        banner_s = await wait_on(pilot, lambda: banner.display, 30, "the banner")
        assert "unreachable" in str(banner.render())
        assert app.screen.has_class("-stale") and app.pulse is not None

        code, out, err, cli_s = await run_cli("groups", "-b", bootstrap, "--timeout", "3")
        line = one_error_line(code, err)
        assert "cannot reach" in line or "no answer" in line, line
        assert cli_s < 3 + 1 + interpreter_s + 2, f"the CLI took {cli_s:.1f} s"

        # the outage lasts; the app keeps refreshing (with backoff) and stays responsive
        failures_before = app.failures
        await wait_on(pilot, lambda: time.monotonic() - down_at >= OUTAGE_S, OUTAGE_S + 5,
                        "the outage to last")
        assert app.failures > failures_before and app.is_running
        failures = app.failures
        retry_in_s = app.retry_in_s
        await pilot.press("2")  # navigating during the outage works on the stale data
        await wait_on(pilot, lambda: type(app.screen).__name__ == "TopicsScreen", 5, "topics")
        outage_s = time.monotonic() - down_at

        restart_at = time.monotonic()
        restart = asyncio.create_task(asyncio.to_thread(
            cluster3.local.start_brokers, nodes, 90))
        answered_at: float | None = None  # the cluster is back: a quorum answers metadata
        recovered_at: float | None = None
        while not restart.done() or recovered_at is None:
            if answered_at is None and await asyncio.to_thread(
                    lambda: metadata_broker_ids(bootstrap, timeout=0.5)):
                answered_at = time.monotonic()
            if recovered_at is None and app.error is None:
                recovered_at = time.monotonic()
            if time.monotonic() - restart_at > 120:
                raise AssertionError("neither the cluster nor the TUI came back in 120 s")
            await pilot.pause(0.05)  # the app runs while the brokers start
        await restart
        all_back_at = time.monotonic()
        assert not app.screen.query_one(Banner).display
        assert not app.screen.has_class("-stale")
    assert answered_at is not None and recovered_at is not None
    recovery_s = max(0.0, recovered_at - answered_at)
    record_figures("full_outage", {
        "brokers": len(nodes), "outage_s": outage_s, "banner_after_s": banner_s,
        "failed_refreshes": failures, "retry_period_during_outage_s": retry_in_s,
        "cli_error_after_s": cli_s, "cli_timeout_s": 3, "cli_line": line,
        "cluster_answers_after_restart_s": answered_at - restart_at,
        "all_brokers_back_after_restart_s": all_back_at - restart_at,
        "tui_recovered_after_cluster_answers_s": recovery_s, "first_refresh_s": first_refresh_s,
    })
    # worst case: a refresh under way when the cluster answered times out, the retry period
    # passes, then one refresh (as long as the first one took on this machine) succeeds
    assert retry_in_s is not None
    bound_s = app.source.settings.request_timeout_s + retry_in_s + first_refresh_s
    assert recovery_s <= bound_s, f"the TUI took {recovery_s:.1f} s to recover (> {bound_s:.1f})"


# ---- one broker down: what the dashboard shows --------------------------------------------------


def _tile(app: NexusApp, name: str) -> str:
    return str(app.screen.query_one(f"#tile-{name}", Static).render())


async def test_one_broker_down_shows_in_the_overview_and_topics_then_clears(
        cluster3, unique, make_app):
    bootstrap = cluster3.bootstrap
    topic = f"{unique}.urp.v1"
    create_topic(bootstrap, topic, partitions=3, rf=3)
    victim = _leader_of(bootstrap, topic, 0)
    app = make_app(bootstrap, refresh=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_on(pilot, lambda: app.pulse is not None and topic in
                        app.pulse.view.snapshot.topics, 30, "the first refresh")
        assert "3/3" in _tile(app, "brokers")
        await asyncio.to_thread(cluster3.local.kill_broker, victim)
        killed_at = time.monotonic()
        shown_s = await wait_on(
            pilot, lambda: "2/3" in _tile(app, "brokers") and app.pulse.view.snapshot
            .topics[topic].under_replicated == 3, 30, "brokers 2/3 and URP")
        urp_tile = int(_tile(app, "urp").split()[0].replace(",", ""))
        assert urp_tile >= 3 and app.pulse.view.snapshot.under_replicated == urp_tile
        assert app.pulse.view.snapshot.topics[topic].offline == 0  # RF 3: still led
        problems = app.screen.query_one("#problems", KeyedTable)  # the overview leads with them
        await wait_on(pilot, lambda: {f"broker/{victim}/0", f"topic/{topic}/0"} <= set(
            problems.keys), 10, "the broker-down and URP problem lines")
        assert str(problems.get_cell(f"broker/{victim}/0", "severity")) == "ERR"
        await pilot.press("2")
        await wait_on(pilot, lambda: type(app.screen).__name__ == "TopicsScreen", 5, "topics")
        table = app.screen.query_one(KeyedTable)
        await wait_on(pilot, lambda: topic in table.keys, 10, "the topic row")
        assert str(table.get_cell(topic, "urp")) == "3"

        restart_at = time.monotonic()
        await asyncio.to_thread(cluster3.local.start_broker, victim, 90)
        back_at = time.monotonic()
        cleared_s = await wait_on(pilot, lambda: str(table.get_cell(topic, "urp")) == "0",
                                    60, "URP to clear in the topics view")
        await pilot.press("1")
        await wait_on(pilot, lambda: "3/3" in _tile(app, "brokers")
                        and _tile(app, "urp").split()[0] == "0", 60, "brokers 3/3 and no URP")
    record_figures("one_broker_down", {
        "killed_broker": victim, "shown_after_s": shown_s, "urp_tile": urp_tile,
        "broker_restart_s": back_at - restart_at, "urp_cleared_after_restart_s": cleared_s,
        "down_for_s": back_at - killed_at,
    })

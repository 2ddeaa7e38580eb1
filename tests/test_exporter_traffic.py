"""Nexus traffic in the exporter, on the real broker: every counter equals what was produced
(checked against the broker's own end offsets), the reply latency histogram counts every
reply with exact buckets and sum, dead letters and undecodable records are counted, counters
only go up, across a cluster that goes down and comes back, and `--no-traffic` takes them
away."""

from __future__ import annotations

import contextlib
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from core import ConnectionSettings, Envelope, KafkaPublisher
from core.errors import LocalClusterError, NexusError
from core.exporter import ClusterCollection, ClusterTarget, ExporterCollector
from core.exporter.traffic import LATENCY_BOUNDS_MS, SERIES
from core.local import LocalCluster
from core.traffic.window import TopicRole, TrafficWindow
from tests.exporter_helpers import Scrape, exporter_process, parse
from tests.kafka_helpers import create_topic, end_offsets, wait_until

MS = 1_000_000
COUNTERS = ("nexus_traffic_requests_total", "nexus_traffic_replies_total",
            "nexus_traffic_error_replies_total", "nexus_traffic_events_total",
            "nexus_traffic_undecodable_records_total", "nexus_traffic_dead_letters_total",
            "nexus_traffic_reply_latency_seconds_count")
FAMILIES = ("nexus_traffic_requests", "nexus_traffic_replies", "nexus_traffic_error_replies",
            "nexus_traffic_events", "nexus_traffic_undecodable_records",
            "nexus_traffic_dead_letters", "nexus_traffic_unanswered_requests",
            "nexus_traffic_pending_requests", "nexus_traffic_reply_latency_seconds",
            "nexus_exporter_traffic_up")


def test_window_totals_count_what_the_window_has_forgotten():
    """Totals never go down: counts older than the window, and requests timed out at an
    instant already out of the window, still count; the latency sum is exact."""
    w = TrafficWindow(window_s=5, unanswered_after_s=2)
    w.add_topic("a.req.v1", TopicRole.WATCHED, 0.0)
    w.add_topic("a.res.v1", TopicRole.WATCHED, 0.0)
    for i in range(4):
        w.record_request("a.req.v1", f"r{i}", 1_000 * MS, 0.5)
    w.record_reply("a.res.v1", "r0", 1_000 * MS + 3 * MS, 0.6)
    w.record_reply("a.res.v1", "r1", 1_000 * MS + 7 * MS, 0.7, error="boom")
    w.record_undecodable("a.req.v1", 0.8)
    totals = w.totals(100.0)  # long after: the window holds none of it
    assert w.stats(100.0)["a.req.v1"].requests == 0
    r, s = totals["a.req.v1"], totals["a.res.v1"]
    assert (r.requests, r.answered, r.answered_with_error, r.unanswered, r.undecodable) == (
        4, 2, 1, 2, 1)
    assert (s.replies, s.error_replies) == (2, 1)
    assert sum(r.latency.values()) == 2 and r.latency_sum_ms == pytest.approx(10.0)
    assert w.totals(200.0) == totals


def _names(unique: str) -> tuple[str, str, str]:
    """A request topic, a reply topic (both Nexus names) and the request topic's `.dlq`."""
    req, res = f"{unique}.orders.v1", f"{unique}.caller.res.v1"
    return req, res, req + ".dlq"


class Collector:
    """A ClusterCollection driven by the test, scraped as Prometheus would, remembering
    every counter value seen (to prove they never go down)."""

    def __init__(self, collection: ClusterCollection) -> None:
        self.collection = collection
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ExporterCollector([collection]))
        self.seen: dict[tuple, list[float]] = {}
        self.last: Scrape | None = None

    async def scrape(self) -> Scrape:
        self.collection.last = await self.collection.collect_once()
        text = generate_latest(self.registry).decode()
        scrape = self.last = Scrape(parse(text), 0.0, text)
        for key, value in scrape.series.items():
            if key[0] in COUNTERS:
                self.seen.setdefault(key, []).append(value)
        return scrape

    def assert_monotonic(self) -> None:
        for key, values in self.seen.items():
            assert values == sorted(values), (key, values)

    async def shows(self, want: dict[tuple[str, str], float]) -> bool:
        scrape = await self.scrape()
        return all(scrape.one(name, topic=topic) == value
                   for (name, topic), value in want.items())


def _traffic(req: str, res: str, n_requests: int, n_replies: int, n_errors: int,
             n_events: int) -> tuple[list[Envelope], list[Envelope], list[Envelope]]:
    base = time.time_ns()
    requests = [Envelope.new_root("t.caller.v1", req, {"i": i}, reply_to=res,
                                  now_ns=base + i * MS) for i in range(n_requests)]
    # replies i + 1 ms after their request; the first n_errors are error replies
    replies = [q.reply_error(f"boom {i}", now_ns=q.created_at + (i + 1) * MS) if i < n_errors
               else q.reply({"ok": i}, now_ns=q.created_at + (i + 1) * MS)
               for i, q in enumerate(requests[:n_replies])]
    events = [Envelope.new_root("t.caller.v1", req, {"event": i}) for i in range(n_events)]
    return requests, replies, events


async def _produce(bootstrap: str, req: str, res: str, dlq: str, n_requests: int,
                   n_replies: int, n_errors: int, n_events: int, n_junk: int,
                   n_dead: int) -> list[Envelope]:
    requests, replies, events = _traffic(req, res, n_requests, n_replies, n_errors, n_events)
    async with KafkaPublisher(bootstrap) as pub:
        await pub.publish_many(requests + events)
        for i in range(n_junk):
            await pub.publish_raw(req, f"not an envelope {i}".encode(), b"k")
        for i in range(n_dead):
            await pub.publish_raw(dlq, requests[i].encode(), requests[i].key)
        await pub.publish_many(replies)
    return replies


async def test_counters_equal_what_was_produced_and_only_go_up(kafka, unique):
    req, res, dlq = _names(unique)
    create_topic(kafka.bootstrap, req, partitions=3)
    create_topic(kafka.bootstrap, res, partitions=2)
    create_topic(kafka.bootstrap, dlq, partitions=2)
    collection = ClusterCollection(
        ClusterTarget("traffic", ConnectionSettings.of(kafka.bootstrap)), 1.0,
        topic_filter=f"^{unique}\\.", group_filter=f"^{unique}$")
    c = Collector(collection)
    try:
        await c.scrape()  # the first collection starts the watcher on the Nexus topics
        watch = collection.traffic_watch
        assert watch is not None and watch.watcher is not None, watch and watch.last_error
        await watch.watcher.positioned()
        await _produce(kafka.bootstrap, req, res, dlq, n_requests=40, n_replies=25,
                       n_errors=8, n_events=5, n_junk=7, n_dead=6)
        # what the broker holds: the exporter must count exactly that
        assert sum(end_offsets(kafka.bootstrap, req).values()) == 40 + 5 + 7
        assert sum(end_offsets(kafka.bootstrap, res).values()) == 25
        assert sum(end_offsets(kafka.bootstrap, dlq).values()) == 6
        want = {("nexus_traffic_requests_total", req): 40,
                ("nexus_traffic_events_total", req): 5,
                ("nexus_traffic_undecodable_records_total", req): 7,
                ("nexus_traffic_replies_total", res): 25,
                ("nexus_traffic_error_replies_total", res): 8,
                ("nexus_traffic_dead_letters_total", dlq): 6,
                ("nexus_traffic_reply_latency_seconds_count", req): 25}
        await wait_until(lambda: c.shows(want), 30, "every record counted")
        s = c.last
        assert s is not None
        assert s.one("nexus_traffic_requests_total", topic=res) == 0
        assert s.one("nexus_traffic_error_replies_total", topic=req) == 0
        assert s.one("nexus_traffic_pending_requests", topic=req) == 40 - 25
        assert s.one("nexus_exporter_traffic_up") == 1
        # latencies 1..25 ms: exact bucket counts and sum
        buckets = {float(dict(k)["le"]): v for k, v in
                   s.values("nexus_traffic_reply_latency_seconds_bucket", topic=req).items()}
        for bound_ms in LATENCY_BOUNDS_MS:
            assert buckets[bound_ms / 1000] == sum(1 for ms in range(1, 26) if ms < bound_ms)
        assert buckets[float("inf")] == 25
        assert s.one("nexus_traffic_reply_latency_seconds_sum", topic=req) == pytest.approx(
            sum(range(1, 26)) / 1000)
        # HELP for every family, each once
        helps = [line.split()[2] for line in s.text.splitlines() if line.startswith("# HELP")]
        assert len(helps) == len(set(helps))
        assert set(FAMILIES) <= {h.removesuffix("_total") for h in helps}
        assert set(SERIES) <= {name for name, _ in s.series}  # what deploy/ may query

        # more traffic: the counters go on from where they were
        await _produce(kafka.bootstrap, req, res, dlq, n_requests=10, n_replies=10,
                       n_errors=3, n_events=0, n_junk=2, n_dead=1)
        want.update({("nexus_traffic_requests_total", req): 50,
                     ("nexus_traffic_undecodable_records_total", req): 9,
                     ("nexus_traffic_replies_total", res): 35,
                     ("nexus_traffic_error_replies_total", res): 11,
                     ("nexus_traffic_dead_letters_total", dlq): 7,
                     ("nexus_traffic_reply_latency_seconds_count", req): 35})
        await wait_until(lambda: c.shows(want), 30, "the second batch counted")
        c.assert_monotonic()
    finally:
        await collection.close()


async def test_counters_survive_the_cluster_going_down_and_coming_back(unique, tmp_path):
    local = LocalCluster(state_dir=tmp_path / "state")
    bootstrap = local.up(brokers=1).bootstrap
    req, res, dlq = _names(unique)
    collection = None
    try:
        for topic in (req, res, dlq):
            create_topic(bootstrap, topic, partitions=1)
        collection = ClusterCollection(
            ClusterTarget("flaky", ConnectionSettings(bootstrap=bootstrap, request_timeout_s=3)),
            1.0, topic_filter=f"^{unique}\\.")
        c = Collector(collection)
        await c.scrape()
        watch = collection.traffic_watch
        assert watch is not None and watch.watcher is not None, watch and watch.last_error
        await watch.watcher.positioned()
        await _produce(bootstrap, req, res, dlq, 12, 12, 4, 0, 3, 2)
        want = {("nexus_traffic_requests_total", req): 12,
                ("nexus_traffic_replies_total", res): 12,
                ("nexus_traffic_error_replies_total", res): 4,
                ("nexus_traffic_undecodable_records_total", req): 3,
                ("nexus_traffic_dead_letters_total", dlq): 2,
                ("nexus_traffic_reply_latency_seconds_count", req): 12}
        await wait_until(lambda: c.shows(want), 30, "the first batch counted")

        local.kill_broker(1)
        with pytest.raises(NexusError):  # the collection fails; the last one stays served
            await collection.collect_once()
        assert collection.traffic_watch is watch
        local.start_broker(1)

        async def collected() -> bool:
            try:
                await c.scrape()
            except NexusError:
                return False
            return True

        await wait_until(collected, 60, "collected again after the restart")
        await _produce(bootstrap, req, res, dlq, 5, 5, 1, 0, 1, 1)
        want.update({("nexus_traffic_requests_total", req): 17,
                     ("nexus_traffic_replies_total", res): 17,
                     ("nexus_traffic_error_replies_total", res): 5,
                     ("nexus_traffic_undecodable_records_total", req): 4,
                     ("nexus_traffic_dead_letters_total", dlq): 3,
                     ("nexus_traffic_reply_latency_seconds_count", req): 17})
        await wait_until(lambda: c.shows(want), 60, "counted on from where it was")
        c.assert_monotonic()
    finally:
        if collection is not None:
            await collection.close()
        with contextlib.suppress(LocalClusterError):
            local.down()


async def test_no_traffic_takes_the_families_away(kafka, unique):
    req, _, _ = _names(unique)
    create_topic(kafka.bootstrap, req, partitions=1)
    common = ("-b", kafka.bootstrap, "--interval", "0.5", "--topics", f"^{unique}\\.")
    for flag, present in (("--traffic", True), ("--no-traffic", False)):
        with exporter_process(*common, flag) as exp:
            def collected(exp=exp, present=present) -> bool:
                return exp.scrape().one("nexus_exporter_cluster_up") == 1 and (
                    exp.scrape().one("nexus_exporter_traffic_up") is not None) == present
            await wait_until(collected, 30, f"a collection with {flag}")
            s = exp.scrape()
            assert (s.one("nexus_traffic_requests_total", topic=req) is not None) == present
            assert ("# HELP nexus_traffic_" in s.text) == present

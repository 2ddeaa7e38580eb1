"""The exporter's time lag and status follow a paced producer and a committer that stops,
then catches up (as tests/test_timelag_live.py does for the monitor)."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, generate_latest

from core.config.settings import ConnectionSettings
from core.exporter import ClusterCollection, ClusterTarget, ExporterCollector
from tests.exporter_helpers import Scrape, parse
from tests.kafka_helpers import create_topic
from tests.test_timelag_live import Paced, _commit

INTERVAL_S = 0.25


async def test_time_lag_and_status_follow_a_stopped_then_caught_up_consumer(kafka, unique):
    topic, group = unique, f"{unique}-grp"
    create_topic(kafka.bootstrap, topic, partitions=1)
    collection = ClusterCollection(
        ClusterTarget("paced", ConnectionSettings.of(kafka.bootstrap)), INTERVAL_S,
        topic_filter=f"^{topic}$", group_filter=f"^{group}$")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ExporterCollector([collection]))

    async def collect() -> Scrape:
        collection.last = await collection.collect_once()
        await asyncio.sleep(INTERVAL_S)  # the exporter's collection period, not a wait
        return Scrape(parse(generate_latest(registry).decode()), 0.0)

    producer = Paced(kafka.bootstrap, topic)
    producer.thread.start()
    try:
        deadline = time.monotonic() + 30
        while not producer.acked_at:  # the first record acknowledged (bounded)
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        stuck_at = max(producer.acked_at) + 1  # commit "everything so far", then stop
        _commit(kafka.bootstrap, group, topic, stuck_at)
        checked = 0
        scrape = await collect()
        for _ in range(20):  # a Burrow window (10 samples) and more
            scrape = await collect()
            seconds = scrape.one("kafka_consumergroup_group_lag_seconds", group=group)
            produced_at = producer.acked_at.get(stuck_at)
            finished = scrape.one("nexus_exporter_last_success_timestamp_seconds")
            if seconds is not None and produced_at is not None and finished is not None:
                # the record's own timestamp, taken before its acknowledgement: a little
                # older than the acknowledgement, never younger
                early = seconds - (finished - produced_at)
                assert -0.01 < early < 0.5, (seconds, finished - produced_at)
                checked += 1
        assert checked >= 10
        lag = scrape.one("kafka_consumergroup_group_lag", group=group)
        assert lag is not None and lag > 0
        assert scrape.one("nexus_consumergroup_status", group=group, status="ERR") == 1
        assert scrape.one("nexus_consumergroup_status", group=group, status="STOP") == 1
        assert scrape.one("nexus_consumergroup_status", group=group, status="OK") == 0
    finally:
        producer.stop.set()
        producer.thread.join(10)
    _commit(kafka.bootstrap, group, topic, max(producer.acked_at) + 1)
    scrape = await collect()
    assert scrape.one("kafka_consumergroup_group_lag", group=group) == 0
    assert scrape.one("kafka_consumergroup_group_lag_seconds", group=group) == 0
    assert scrape.one("nexus_consumergroup_status", group=group, status="OK") == 1
    assert scrape.one("nexus_consumergroup_status", group=group, status="ERR") == 0
    await collection.close()

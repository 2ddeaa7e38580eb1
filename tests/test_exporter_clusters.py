"""Two clusters in one exporter, one SIGKILLed: its `up` goes 0 within 2 intervals, the other
keeps being collected, and /metrics answers in < 100 ms throughout (each scrape measured)."""

from __future__ import annotations

import contextlib
import time

from confluent_kafka import KafkaError, KafkaException

from core.errors import LocalClusterError
from core.local import LocalCluster
from tests.exporter_helpers import exporter_process
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts, wait_until

INTERVAL_S = 1.0
SCRAPE_BUDGET_S = 0.1


async def test_a_killed_cluster_goes_down_and_the_other_keeps_updating(kafka, unique, tmp_path):
    local = LocalCluster(state_dir=tmp_path / "state")
    other = local.up(brokers=1).bootstrap
    try:
        for bootstrap in (kafka.bootstrap, other):
            create_topic(bootstrap, unique, partitions=2)
            produce_counts(bootstrap, unique, [3, 4])

            def committed(bootstrap: str = bootstrap) -> bool:
                try:
                    commit_offsets(bootstrap, unique, {(unique, 0): 1})
                except KafkaException as exc:  # a fresh cluster loads __consumer_offsets
                    if exc.args[0].code() != KafkaError.COORDINATOR_LOAD_IN_PROGRESS:
                        raise
                    return False
                return True

            await wait_until(committed, 60, "the commit on a fresh cluster")
        with exporter_process("-b", kafka.bootstrap, "-b", other, "--interval", str(INTERVAL_S),
                              "--timeout", "10", "--topics", f"^{unique}$",
                              "--groups", f"^{unique}$") as exp:
            took: list[float] = []

            def scrape():  # every scrape of the test is timed
                s = exp.scrape()
                took.append(s.took_s)
                return s

            def both_up() -> bool:
                s = scrape()
                return all(s.one("nexus_exporter_cluster_up", cluster_name=c) == 1 and
                           s.one("kafka_consumergroup_group_sum_lag", cluster_name=c,
                                 group=unique) == 2 for c in (kafka.bootstrap, other))

            await wait_until(both_up, 30, "both clusters collected")
            helps = [line.split()[2] for line in scrape().text.splitlines()
                     if line.startswith("# HELP ")]
            assert len(helps) == len(set(helps)), "a family must appear once, all clusters in it"
            local.kill_broker(1)
            killed_at = time.monotonic()

            def other_down() -> bool:
                return scrape().one("nexus_exporter_cluster_up", cluster_name=other) == 0

            await wait_until(other_down, 10, "the killed cluster's up to go 0")
            assert time.monotonic() - killed_at <= 2 * INTERVAL_S + SCRAPE_BUDGET_S
            # the shared cluster keeps being collected while the other's collection hangs
            first = scrape().one("nexus_exporter_last_success_timestamp_seconds",
                                 cluster_name=kafka.bootstrap)
            assert first is not None

            def moved_on(times: int) -> bool:
                s = scrape()
                last = s.one("nexus_exporter_last_success_timestamp_seconds",
                             cluster_name=kafka.bootstrap)
                return (s.one("nexus_exporter_cluster_up", cluster_name=kafka.bootstrap) == 1
                        and s.one("nexus_exporter_cluster_up", cluster_name=other) == 0
                        and last is not None and last >= first + times * INTERVAL_S * 0.9)

            await wait_until(lambda: moved_on(3), 15, "three more collections of the live one")
            assert len(took) > 20 and max(took) < SCRAPE_BUDGET_S, (len(took), max(took))
            # the killed cluster's last completed collection stays served (it may be one the
            # kill cut short: its unread items are counted, their series absent)
            s = scrape()
            assert s.one("nexus_exporter_last_success_timestamp_seconds",
                         cluster_name=other) is not None
            assert s.one("nexus_exporter_collection_errors", cluster_name=kafka.bootstrap) == 0
            status, _ = exp.healthz()
            assert status in (200, 503)  # fresh for up to 3 intervals after the last success
    finally:
        with contextlib.suppress(LocalClusterError):
            local.down()

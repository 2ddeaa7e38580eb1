"""Side by side with klag-exporter (Rust, crates.io), same cluster, same moment: every
partition's offset lag and committed offset are equal, and both time lags give back the
timestamp of the record at the committed offset (ours to 10 ms; klag's to its whole-second
last-update time plus its collection time). Skipped when the binary is absent: CI does not
build it (`cargo install --locked klag-exporter@0.1.29`; bench/exporter_vs_klag.py at scale).
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer

from tests.exporter_helpers import (
    KLAG_INSTALL,
    Scrape,
    exporter_process,
    klag_binary,
    klag_process,
)
from tests.kafka_helpers import commit_offsets, create_topic, wait_until

KLAG = klag_binary(None)
INTERVAL_S = 2.0
pytestmark = pytest.mark.skipif(KLAG is None,
                                reason=f"klag-exporter not installed ({KLAG_INSTALL})")


def _by_partition(s: Scrape, name: str, group: str) -> dict[int, float]:
    return {int(dict(k)["partition"]): v for k, v in s.values(name, group=group).items()}


async def test_offset_lag_equal_and_time_lag_within_tolerance_of_klag(kafka, unique):
    assert KLAG is not None
    topic, group = unique, f"{unique}-grp"
    create_topic(kafka.bootstrap, topic, partitions=3)
    hour_ago_ms = int((time.time() - 3600) * 1000)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for i in range(10):  # record i of every partition written at hour_ago + i s
        for p in range(3):
            producer.produce(topic, f"v{i}".encode(), partition=p,
                             timestamp=hour_ago_ms + i * 1000)
    assert producer.flush(30) == 0
    committed = {0: 0, 1: 4, 2: 10}  # from the first record, in the middle, caught up
    commit_offsets(kafka.bootstrap, group, {(topic, p): c for p, c in committed.items()})

    with exporter_process("-b", kafka.bootstrap, "--interval", str(INTERVAL_S),
                          "--topics", f"^{unique}$", "--groups", f"^{unique}-") as ours, \
            klag_process(KLAG, kafka.bootstrap, INTERVAL_S, f"^{unique}") as klag:
        scrapes: dict[str, Scrape] = {}

        def both_collected() -> bool:
            scrapes["ours"], scrapes["klag"] = ours.scrape(), klag.scrape()
            return all(len(_by_partition(s, "kafka_consumergroup_group_lag_seconds", group))
                       == 3 for s in scrapes.values())

        await wait_until(both_collected, 60, "both exporters collected every partition")
        so, sk = scrapes["ours"], scrapes["klag"]
        for name in ("kafka_consumergroup_group_lag", "kafka_consumergroup_group_offset"):
            assert _by_partition(so, name, group) == _by_partition(sk, name, group), name
        assert _by_partition(so, "kafka_consumergroup_group_lag", group) == {
            p: 10 - c for p, c in committed.items()}
        ours_at = so.one("nexus_exporter_last_success_timestamp_seconds")
        klag_at = sk.one("kafka_lag_exporter_last_update_timestamp_seconds", cluster_name="bench")
        klag_took = (sk.one("kafka_consumergroup_poll_time_ms", cluster_name="bench") or 0) / 1000
        assert ours_at is not None and klag_at is not None
        ours_s = _by_partition(so, "kafka_consumergroup_group_lag_seconds", group)
        klag_s = _by_partition(sk, "kafka_consumergroup_group_lag_seconds", group)
        for p in (0, 1):
            record_ts = (hour_ago_ms + committed[p] * 1000) / 1000
            assert abs(ours_at - ours_s[p] - record_ts) < 0.01, (p, ours_s[p])
            assert abs(klag_at - klag_s[p] - record_ts) <= 1.0 + klag_took, (p, klag_s[p])
        assert ours_s[2] == klag_s[2] == 0  # caught up

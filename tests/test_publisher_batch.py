"""KafkaPublisher's batch path and how it takes its brokers — on the real broker."""

from __future__ import annotations

import gc
import pickle
import secrets
from enum import StrEnum
from typing import Any

import pytest

from core import (
    ClientMetrics,
    ConfigError,
    Delivery,
    Envelope,
    EnvelopeError,
    KafkaPublisher,
    PublishError,
    TopicNameError,
    partition_for_key,
)
from core.messaging.publisher import INLINE_POLL_EVERY, _Batch
from tests.kafka_helpers import create_topic, end_offsets, read_all, wait_until


async def test_a_list_of_brokers_works_as_aiokafka_takes_it(kafka, unique):
    create_topic(kafka.bootstrap, unique)
    pub = KafkaPublisher([kafka.bootstrap, f" {kafka.bootstrap} "])
    assert pub.config["bootstrap.servers"] == f"{kafka.bootstrap},{kafka.bootstrap}"
    envelope = Envelope.new_root("t.src.v1", unique, {"list": True})
    async with pub:
        ack = await pub.publish(envelope)
    (record,) = read_all(kafka.bootstrap, unique, 1)
    assert (record.offset(), record.key(), record.value()) == (
        ack.offset, envelope.key, envelope.encode()
    )


@pytest.mark.parametrize(
    "brokers",
    [5, None, [], ("h:1", 3), [""], ["h:1,h2:2"], {"h": 1}, b"h:9092", "  "],
    ids=["int", "none", "empty-list", "non-string", "empty-string-item", "comma-item", "dict",
         "bytes", "blank"],
)
def test_bad_brokers_are_one_config_error(brokers: Any) -> None:
    with pytest.raises(ConfigError) as info:
        KafkaPublisher(brokers)
    assert "\n" not in str(info.value)


async def test_publish_many_acks_every_record_in_input_order(kafka, unique):
    """Two topics, records interleaved, several inline-poll bursts: each ack is its record's."""
    topics = [f"{unique}-a", f"{unique}-b"]
    for topic in topics:
        create_topic(kafka.bootstrap, topic, partitions=3)
    count = 3 * INLINE_POLL_EVERY + 7
    envelopes = [Envelope.new_root("t.src.v1", topics[i % 2], {"i": i}) for i in range(count)]
    async with KafkaPublisher(kafka.bootstrap, preset="high-throughput") as pub:
        acks = await pub.publish_many(iter(envelopes))  # any iterable, consumed once
        assert await pub.publish_many([]) == []
    assert len(acks) == count
    for envelope, ack in zip(envelopes, acks, strict=True):
        assert ack.topic == envelope.destination_topic
        assert ack.partition == partition_for_key(envelope.key, 3)
    for topic in topics:
        written = {(m.partition(), m.offset()): m.value()
                   for m in read_all(kafka.bootstrap, topic, count // 2)}
        expected = {(a.partition, a.offset): e.encode()
                    for e, a in zip(envelopes, acks, strict=True) if a.topic == topic}
        assert written == expected


async def test_a_bad_topic_is_refused_before_anything_is_produced(kafka, unique):
    create_topic(kafka.bootstrap, unique)
    async with KafkaPublisher(kafka.bootstrap) as pub:
        with pytest.raises(TopicNameError):
            await pub.publish_many([Envelope.new_root("t.src.v1", "no spaces here", None),
                                    Envelope.new_root("t.src.v1", unique, None)])
        assert end_offsets(kafka.bootstrap, unique) == {0: 0}
        acks = await pub.publish_many([Envelope.new_root("t.src.v1", unique, None)])
    assert [(a.topic, a.offset) for a in acks] == [(unique, 0)]


async def test_a_batch_reports_every_failed_record_and_acks_the_rest(kafka, unique):
    """Records the broker refuses (too large for their topic), interleaved with good ones over
    several inline-poll bursts: publish_many waits for every report, raises the failure, and
    counts each record once, as published or as a publish error, under its own topic."""
    good, small = f"{unique}-good", f"{unique}-small"
    create_topic(kafka.bootstrap, good, partitions=2)
    create_topic(kafka.bootstrap, small, config={"max.message.bytes": "2000"})
    count = 2 * INLINE_POLL_EVERY + 11
    envelopes = [Envelope.new_root("t.src.v1", small, secrets.token_hex(1500)) if i % 5 == 0
                 else Envelope.new_root("t.src.v1", good, {"i": i}) for i in range(count)]
    refused = sum(1 for e in envelopes if e.destination_topic == small)
    metrics = ClientMetrics()
    async with KafkaPublisher(kafka.bootstrap, preset="high-throughput", metrics=metrics) as pub:
        with pytest.raises(PublishError, match=f"too large for topic {small}"):
            await pub.publish_many(envelopes)
        counters = metrics.snapshot().counters
        assert counters["published"] == {good: count - refused}
        assert counters["publish_errors"] == {small: refused}
        assert sum(end_offsets(kafka.bootstrap, good).values()) == count - refused
        assert end_offsets(kafka.bootstrap, small) == {0: 0}
        acks = await pub.publish_many([Envelope.new_root("t.src.v1", small, "fits")])
    assert [(a.topic, a.offset) for a in acks] == [(small, 0)]
    assert metrics.snapshot().counters["published"] == {good: count - refused, small: 1}


async def test_a_batch_cut_short_by_a_bad_envelope_still_counts_what_it_produced(kafka, unique):
    """An envelope that cannot be encoded stops publish_many with its error; the records
    produced before it are still acknowledged and counted once as published."""
    create_topic(kafka.bootstrap, unique)
    good = [Envelope.new_root("t.src.v1", unique, {"i": i}) for i in range(INLINE_POLL_EVERY + 3)]
    bad = Envelope.new_root("t.src.v1", unique, {"x": object()})
    metrics = ClientMetrics()
    async with KafkaPublisher(kafka.bootstrap, metrics=metrics) as pub:
        with pytest.raises(EnvelopeError):
            await pub.publish_many([*good, bad, good[0]])
        await pub.flush()
        await wait_until(lambda: metrics.snapshot().counters.get("published") == {
            unique: len(good)}, 30, "the produced records counted")
    assert end_offsets(kafka.bootstrap, unique) == {0: len(good)}


async def test_a_topic_given_as_a_str_subclass_is_acked_as_a_plain_str(kafka, unique):
    create_topic(kafka.bootstrap, unique)
    topics = StrEnum("Topics", {"ORDERS": unique})
    async with KafkaPublisher(kafka.bootstrap) as pub:
        acks = await pub.publish_many(
            [Envelope.new_root("t.src.v1", topics.ORDERS, i) for i in range(3)])
    assert [(type(a.topic), a.topic, a.offset) for a in acks] == [
        (str, unique, 0), (str, unique, 1), (str, unique, 2)]


async def test_a_batch_leaves_no_per_record_work_to_the_cyclic_collector(kafka, unique):
    """The Deliveries publish_many returns (and its records in flight) are not tracked by the
    cyclic garbage collector, so a large batch sets off no full collections; they still
    behave as values (equal, hashable, immutable, picklable). A batch with failed records
    leaves no cycle behind that the collector could not see (the records drop the batch)."""
    good, small = f"{unique}-good", f"{unique}-small"
    create_topic(kafka.bootstrap, good, partitions=2)
    create_topic(kafka.bootstrap, small, config={"max.message.bytes": "2000"})
    count = 8 * INLINE_POLL_EVERY
    envelopes = [Envelope.new_root("t.src.v1", good, {"i": i}) for i in range(count)]
    async with KafkaPublisher(kafka.bootstrap, preset="high-throughput") as pub:
        gc.collect()
        tracked_before = len(gc.get_objects())
        acks = await pub.publish_many(envelopes)
        tracked_after = len(gc.get_objects())
        assert tracked_after - tracked_before < count // 10, "a tracked object per record"
        assert all(type(a) is Delivery and not gc.is_tracked(a) for a in acks)
        first = acks[0]
        assert first == Delivery(first.topic, first.partition, first.offset)
        assert hash(first) == hash(Delivery(first.topic, first.partition, first.offset))
        assert pickle.loads(pickle.dumps(first)) == first
        with pytest.raises(AttributeError):
            first.offset = 0  # type: ignore[misc]

        gc.collect()  # a batch already garbage is not counted before and freed after
        batches_before = sum(1 for o in gc.get_objects() if type(o) is _Batch)
        mixed = [Envelope.new_root("t.src.v1", small, secrets.token_hex(1500)) if i % 3 == 0
                 else Envelope.new_root("t.src.v1", good, {"i": i}) for i in range(30)]
        with pytest.raises(PublishError):
            await pub.publish_many(mixed)
        del mixed
        gc.collect()
        batches_after = sum(1 for o in gc.get_objects() if type(o) is _Batch)
        assert batches_after <= batches_before, "a failed batch leaked"

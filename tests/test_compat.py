"""core/compat.py: every private name of confluent-kafka and aiokafka we use, checked for what we
rely on (the parameters we pass, the results we read), not just that the names exist, on the
real broker, and each public-API fallback run for real too (forced by making compat's own
lookup of the private name find nothing), giving the same answers.

A confluent-kafka or aiokafka upgrade that renames, drops or reshapes one of these fails here by
name. The truth each read is compared with is what the test wrote (records with chosen
timestamps, commits), and Kafka's GetOffsetShell for the max-timestamp offsets.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AioPartition
from aiokafka.client import AIOKafkaClient
from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from core import compat
from core.local.tools import run_tool
from core.messaging.consumer_stop import stop_consumer
from tests.kafka_helpers import commit_offsets, create_topic, wait_until

PATHS = ["private", "public"]


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test through the private names, then through the public-API fallbacks."""
    if request.param == "public":
        monkeypatch.setattr(compat, "admin_c_method", lambda name: None)
        monkeypatch.setattr(compat, "private_client", lambda consumer: None)
    yield request.param


# ---- confluent-kafka ------------------------------------------------------------------------


def test_the_admin_c_methods_take_the_arguments_we_pass(kafka):
    """Our calls: (admin, request, future, request_timeout=s). The C methods are builtins
    without an inspectable signature: their docstrings name the parameters, and a keyword they
    do not know is refused (so request_timeout is really parsed, not swallowed)."""
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for name in compat.ADMIN_C_METHODS:
        method = compat.admin_c_method(name)
        assert method is not None, f"confluent-kafka lost AdminClient's C method {name}"
        assert f"{name}(" in (method.__doc__ or "") and "request_timeout" in method.__doc__
        with pytest.raises(TypeError):
            method(admin, [], compat._started_future(), no_such_parameter=1)


def test_offset_spec_values_private_and_public_agree():
    specs = {OffsetSpec.latest(): compat.LATEST, OffsetSpec.earliest(): compat.EARLIEST,
             OffsetSpec.max_timestamp(): compat.MAX_TIMESTAMP,
             OffsetSpec.for_timestamp(1_700_000_000_123): 1_700_000_000_123}
    for spec, wire in specs.items():
        assert isinstance(inspect.getattr_static(type(spec), "_value"), property)
        assert compat.offset_spec_value(spec) == spec._value == wire
        assert compat._public_spec_value(spec) == wire
    with pytest.raises(TypeError):
        compat._public_spec_value(object())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def timed_topic(kafka) -> tuple[str, int]:
    """Partition 0: timestamps base, base+2000, base+1000; partition 1: base+500."""
    topic = f"t-compat-offsets-{time.time_ns()}"
    create_topic(kafka.bootstrap, topic, partitions=2)
    base = int(time.time() * 1000) - 60_000
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for partition, delta in ((0, 0), (0, 2000), (0, 1000), (1, 500)):
        producer.produce(topic, b"v", partition=partition, timestamp=base + delta)
    assert producer.flush(30) == 0
    return topic, base


async def test_list_offsets_each_spec(kafka, timed_topic, path):
    topic, base = timed_topic
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    expected = {
        OffsetSpec.earliest(): {0: 0, 1: 0},
        OffsetSpec.latest(): {0: 3, 1: 1},
        OffsetSpec.max_timestamp(): {0: 1, 1: 0},  # base+2000 is offset 1
        OffsetSpec.for_timestamp(base + 500): {0: 1, 1: 0},  # first timestamp >= target
        OffsetSpec.for_timestamp(base + 5000): {0: -1, 1: -1},  # none: librdkafka says -1
    }
    for spec, want in expected.items():
        value = compat.offset_spec_value(spec)
        request = [TopicPartition(topic, p, value) for p in (0, 1, 7)]  # 7 does not exist
        result = compat.list_offsets(admin, request, spec, 10).result(30)
        got = {tp.partition: r for tp, r in result.items()}
        assert {p: got[p].offset for p in (0, 1)} == want, spec
        assert isinstance(got[7], KafkaError), got[7]
    shell = run_tool("org.apache.kafka.tools.GetOffsetShell", [
        "--bootstrap-server", kafka.bootstrap, "--topic", topic, "--time", "-3"])
    assert shell.returncode == 0, shell.stderr
    assert sorted(shell.stdout.split()) == [f"{topic}:0:1", f"{topic}:1:0"]


async def test_group_reads(kafka, unique, path):
    topic, group, absent = f"{unique}.t", f"{unique}-g", f"{unique}-absent"
    create_topic(kafka.bootstrap, topic, partitions=3)
    commit_offsets(kafka.bootstrap, group, {(topic, 0): 5, (topic, 2): 7})
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})

    described = compat.describe_consumer_groups(admin, [group, absent], 10).result(30)
    assert [d.group_id for d in described] == [group, absent]
    assert [d.state.name for d in described] == ["EMPTY", "DEAD"]

    (offsets,) = compat.list_consumer_group_offsets(
        admin, [ConsumerGroupTopicPartitions(group)], 10).result(30)
    assert offsets.group_id == group
    assert {(tp.topic, tp.partition): tp.offset for tp in offsets.topic_partitions
            if tp.offset >= 0} == {(topic, 0): 5, (topic, 2): 7}


# ---- aiokafka ---------------------------------------------------------------------------------


def test_the_aiokafka_client_methods_we_call():
    """`consumer._client` is an AIOKafkaClient; force_metadata_update() takes no argument and
    returns an awaitable, close() is a coroutine function taking none."""
    assert list(inspect.signature(AIOKafkaClient.force_metadata_update).parameters) == ["self"]
    assert inspect.iscoroutinefunction(AIOKafkaClient.close)
    assert list(inspect.signature(AIOKafkaClient.close).parameters) == ["self"]


async def test_refresh_metadata_finds_a_topic_created_after_start(kafka, unique, path):
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        if path == "private":
            assert isinstance(compat.private_client(consumer), AIOKafkaClient)
        topic = f"{unique}.late"
        create_topic(kafka.bootstrap, topic, partitions=4)
        assert consumer.partitions_for_topic(topic) is None  # not in its metadata yet

        async def seen() -> bool:
            await compat.refresh_metadata(consumer, topic)
            return consumer.partitions_for_topic(topic) == {0, 1, 2, 3}

        await wait_until(seen, 30, f"the consumer's metadata to have {topic}")
    finally:
        await consumer.stop()


async def test_close_client_closes_the_consumers_connections(kafka, unique, path):
    topic = f"{unique}.t"
    create_topic(kafka.bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    await consumer.start()
    client = consumer._client  # what the private path closes (read here to check it)
    try:
        consumer.assign([AioPartition(topic, 0)])
        await consumer.position(AioPartition(topic, 0))  # a connection to the leader is open
        assert any(conn.connected() for conn in client._conns.values())
        await compat.close_client(consumer)
        open_after = [conn for conn in client._conns.values() if conn.connected()]
        if path == "private":
            assert open_after == []
        else:  # no public way: the fallback leaves them to stop() or garbage collection
            assert open_after
    finally:
        await stop_consumer(consumer)


def test_the_aiokafka_metadata_names_we_rely_on():
    """The client builds its Metadata requests with `aiokafka.client.MetadataRequest` (ours
    once `no_topic_auto_creation` ran: a factory of the real class), which takes
    allow_auto_topic_creation; `_metadata_update` is a coroutine function on the client."""
    import aiokafka.client
    from aiokafka.protocol.metadata import MetadataRequest

    assert "allow_auto_topic_creation" in inspect.signature(MetadataRequest).parameters
    assert inspect.iscoroutinefunction(AIOKafkaClient._metadata_update)
    factory = compat._guarded_metadata_request()
    assert factory is not None and aiokafka.client.MetadataRequest is factory
    assert isinstance(factory(["t"]), MetadataRequest)


async def test_no_topic_auto_creation_keeps_a_deleted_topic_deleted(kafka, unique, path):
    """A consumer still assigned to a topic that is deleted asks the broker for its metadata
    at once. Through the private names, the request forbids auto-creation and the topic stays
    deleted; without them (the fallback: nothing), this broker (auto.create.topics.enable=
    true, Kafka's default) re-creates it: the same request, the other answer, so the first
    result is the helper's doing. Checked with Kafka's TopicCommand (run in a thread: the
    consumer keeps working meanwhile)."""
    from tests.admin_helpers import TOPIC_COMMAND, broker_setting, kafka_tool, listed_topics

    assert broker_setting(kafka.bootstrap, "auto.create.topics.enable") == "true"
    topic = f"{unique}.gone"
    # one partition, as the broker re-creates it: the consumer's partition exists again
    create_topic(kafka.bootstrap, topic, partitions=1)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    assert compat.no_topic_auto_creation(consumer) is (path == "private")
    await consumer.start()

    async def listed() -> bool:
        return topic in await asyncio.to_thread(listed_topics, kafka.bootstrap)

    try:
        consumer.assign([AioPartition(topic, 0)])
        await consumer.position(AioPartition(topic, 0))
        await asyncio.to_thread(kafka_tool, TOPIC_COMMAND, "--bootstrap-server",
                                kafka.bootstrap, "--delete", "--topic", topic)
        if path == "private":
            # the consumer has asked since the delete, and was told the topic is gone
            await wait_until(lambda: consumer.partitions_for_topic(topic) is None, 30,
                             "the consumer's metadata without the topic")
            assert not await listed()
            assert not await listed()  # still, seconds later
        else:
            await wait_until(listed, 60, "the topic re-created by the consumer's metadata")
    finally:
        await stop_consumer(consumer)

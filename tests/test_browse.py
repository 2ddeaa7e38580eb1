"""Message browsing (core.cluster.browse) and `nexus-tui messages`, on the real broker.

One module-wide data set: three Nexus topics with different partition counts (plus a
dead-letter topic) carrying two conversations and some records that are not envelopes, and a
topic whose records have explicit timestamps, so that every expected answer is known exactly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from core import DLQ_HEADERS, ConnectionSettings, Envelope, KafkaPublisher, partition_for_key
from core.cluster.admin import ClusterUnreachable, KafkaAdmin, NotFound
from core.cluster.browse import (
    RAW_LIMIT,
    Beginning,
    BrowsedRecord,
    LiveTail,
    Offset,
    RecordFilter,
    Tail,
    Timestamp,
    browse,
    follow_conversation,
    tail,
)
from core.errors import ConfigError
from core.wire.envelope import MessageKind
from tests.kafka_helpers import create_topic, nexus, wait_until

Where = tuple[str, int, int]  # topic, partition, offset


@dataclass
class DataSet:
    bootstrap: str
    orders: str  # 3 partitions: roots, replies, junk
    billing: str  # 2 partitions: child requests (base64 payloads)
    dlq: str  # 1 partition: a dead-lettered copy
    timed: str  # 2 partitions, 5 records each at known timestamps
    trimmed: str  # 1 partition, 5 records, the first 2 deleted
    root1: str
    root2: str
    conversation1: list[Where]  # in created_at order
    by_topic: dict[str, list[Where]]
    base_ms: int
    timed_ids: dict[tuple[int, int], str]  # (partition, offset) -> envelope id or "junk"


def _produce_at(bootstrap: str, topic: str, rows: list[tuple[int, int, bytes, bytes | None]]
                ) -> list[Where]:
    """Produce (partition, timestamp_ms, value, key) rows one by one; return their offsets."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "partitioner": "murmur2_random"})
    out: list[Where] = []

    def done(err, msg) -> None:  # noqa: ANN001 - librdkafka callback
        assert err is None, err
        out.append((msg.topic(), msg.partition(), msg.offset()))

    for partition, ts, value, key in rows:
        producer.produce(topic, value, key, partition=partition, timestamp=ts, on_delivery=done)
        producer.flush(30)
    return out


async def _publish(ds: DataSet) -> None:
    t0 = time.time_ns() - 3_600 * 10**9  # an hour ago: created_at order ≠ produce order
    root = Envelope.new_root("ops.console.v1", ds.orders, {"order": 1}, reply_to=ds.orders,
                             now_ns=t0)
    root = dataclasses.replace(root, id=ds.root1, root_id=ds.root1)
    child = root.child(ds.billing, {"amount": 5, "note": "Needle in base64"},
                       reply_to=ds.orders, now_ns=t0 + 10_000)
    reply = child.reply({"ok": True}, now_ns=t0 + 20_000)
    child2 = root.child(ds.billing, {"amount": -1}, reply_to=ds.orders, now_ns=t0 + 30_000)
    error_reply = child2.reply_error("negative amount", now_ns=t0 + 40_000)
    other = Envelope.new_root("ops.console.v1", ds.orders, {"order": 2}, now_ns=t0 + 5_000)
    other = dataclasses.replace(other, id=ds.root2, root_id=ds.root2)
    other_child = other.child(ds.billing, {"amount": 7}, now_ns=t0 + 6_000)

    async with KafkaPublisher(ds.bootstrap, preset="low-latency") as pub:
        # produced out of created_at order on purpose
        d_reply = await pub.publish(reply)
        d_error = await pub.publish(error_reply)
        d_root = await pub.publish(root)
        d_child = await pub.publish(child)
        d_child2 = await pub.publish(child2)
        headers = [(h, b"x") for h in DLQ_HEADERS]
        d_dlq = await pub.publish_raw(ds.dlq, child2.encode(), child2.key, headers)
        d_other = await pub.publish(other)
        d_other_child = await pub.publish(other_child)
        d_junk = await pub.publish_raw(ds.orders, b"not json \xff\xfe", b"junk-key")
        d_text = await pub.publish_raw(ds.orders, b"Plain TEXT with a needle", None)
        d_junk1 = await pub.publish_raw(ds.orders, b"<<binary>>\x00", root.key)  # keyed root1
    # a record keyed root1 but put by hand on another partition: a conversation search must
    # not find it, since it reads only the partition root1 hashes to
    home = partition_for_key(ds.root1, 3)
    stray = _produce_at(ds.bootstrap, ds.orders,
                        [((home + 1) % 3, int(time.time() * 1000), b"stray", root.key)])

    def w(d) -> Where:  # noqa: ANN001
        return (d.topic, d.partition, d.offset)

    ds.conversation1 = [w(d_root), w(d_child), w(d_reply), w(d_child2), w(d_dlq), w(d_error),
                        w(d_junk1)]
    ds.by_topic = {
        ds.orders: [w(d) for d in (d_reply, d_error, d_root, d_other, d_junk, d_text, d_junk1)]
        + stray,
        ds.billing: [w(d) for d in (d_child, d_child2, d_other_child)],
        ds.dlq: [w(d_dlq)],
    }


@pytest.fixture(scope="module")
def ds(kafka) -> Iterator[DataSet]:  # noqa: ANN001 - the session fixture
    prefix = f"t-browse-{uuid.uuid4().hex[:8]}"
    data = DataSet(
        bootstrap=kafka.bootstrap, orders=f"{prefix}.orders.v1",
        billing=f"{prefix}.billing.cmd.v1", dlq=f"{prefix}.billing.cmd.v1.dlq",
        timed=f"{prefix}.timed.v1", trimmed=f"{prefix}.trimmed.v1",
        root1=f"ops.console.v1:{uuid.uuid4()}", root2=f"ops.console.v1:{uuid.uuid4()}",
        conversation1=[], by_topic={}, base_ms=(int(time.time()) - 600) * 1000, timed_ids={},
    )
    # root1 and root2 must live on different partitions of orders for the filters to matter
    while partition_for_key(data.root2, 3) == partition_for_key(data.root1, 3):
        data.root2 = f"ops.console.v1:{uuid.uuid4()}"
    create_topic(kafka.bootstrap, data.orders, partitions=3)
    create_topic(kafka.bootstrap, data.billing, partitions=2)
    create_topic(kafka.bootstrap, data.dlq, partitions=1)
    create_topic(kafka.bootstrap, data.timed, partitions=2, config={"retention.ms": "-1"})
    create_topic(kafka.bootstrap, data.trimmed, partitions=1)
    asyncio.run(_publish(data))

    # timed: partition 0 at base+0,10,20,30,40 ms; partition 1 at base+5,15,25,35,45 ms
    rows = []
    for i in range(5):
        for p in (0, 1):
            ts = data.base_ms + 10 * i + 5 * p
            if (p, i) == (1, 2):
                value, ident = b"\x00\x01 not an envelope", "junk"
            else:
                env = Envelope.new_root("ops.clock.v1", data.timed, {"p": p, "i": i})
                value, ident = env.encode(), env.id
            rows.append((p, ts, value, f"key-{p}-{i}".encode()))
            data.timed_ids[(p, i)] = ident
    assert [(p, o) for _, p, o in _produce_at(kafka.bootstrap, data.timed, rows)] == [
        (p, i) for i in range(5) for p in (0, 1)]

    _produce_at(kafka.bootstrap, data.trimmed,
                [(0, data.base_ms + i, f"r{i}".encode(), None) for i in range(5)])
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for fut in admin.delete_records([TopicPartition(data.trimmed, 0, 2)]).values():
        fut.result(30)
    yield data


def _where(records: list[BrowsedRecord]) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in records]


def _groups(bootstrap: str) -> set[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return {g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid}


# ---- browse ----------------------------------------------------------------------------------


async def test_browse_from_beginning_returns_every_record_in_time_order(ds: DataSet):
    result = await browse(ds.bootstrap, ds.orders, start=Beginning())
    expected = ds.by_topic[ds.orders]
    assert sorted((r.topic, r.partition, r.offset) for r in result) == sorted(expected)
    assert len(result) == len(expected) == 8
    keys = [(r.timestamp_ms, r.partition, r.offset) for r in result]
    assert keys == sorted(keys)
    assert not result.timed_out and all(s.complete for s in result.scans)
    assert {s.partition for s in result.scans} == {0, 1, 2}
    assert result.scanned == 8

    kinds = {r.id: r.kind for r in result if r.envelope}
    assert kinds[ds.root1] == MessageKind.REQUEST
    assert MessageKind.REPLY in kinds.values() and MessageKind.ERROR_REPLY in kinds.values()
    junk = [r for r in result if r.envelope is None]
    assert len(junk) == 4  # invalid UTF-8, plain text, binary keyed root1, the stray one
    assert all(r.kind == "undecodable" and r.decode_error for r in junk)
    text = next(r for r in junk if r.raw.startswith(b"Plain"))
    assert text.key is None and text.summary() == "Plain TEXT with a needle"
    assert "not an envelope" in text.pretty() and "Plain TEXT" in text.pretty()
    binary = next(r for r in junk if r.key == "junk-key")
    assert "not UTF-8" in (binary.decode_error or "") and "6e 6f 74" in binary.pretty()
    error = next(r for r in result if r.kind == MessageKind.ERROR_REPLY)
    assert error.summary() == "error: negative amount"


async def test_browse_from_offset_time_and_tail_on_known_timestamps(ds: DataSet):
    b, t, base = ds.bootstrap, ds.timed, ds.base_ms
    after = await browse(b, t, start=Timestamp(base + 12))
    assert _where(after) == [(1, 1), (0, 2), (1, 2), (0, 3), (1, 3), (0, 4), (1, 4)]
    assert [r.timestamp_ms - base for r in after] == [15, 20, 25, 30, 35, 40, 45]
    assert [r.id or "junk" for r in after] == [ds.timed_ids[(p, o)] for p, o in _where(after)]

    from3 = await browse(b, t, start=Offset(3))
    assert _where(from3) == [(0, 3), (1, 3), (0, 4), (1, 4)]
    assert _where(await browse(b, t, start=Tail(2))) == _where(from3)
    assert _where(await browse(b, t, start=Tail(2), partitions=[1])) == [(1, 3), (1, 4)]
    assert _where(await browse(b, t, start=Offset(0), partitions=[0])) == [
        (0, i) for i in range(5)]

    assert await browse(b, t, start=Offset(1000)) == []  # clamped to the log end
    assert await browse(b, t, start=Timestamp(base + 10_000)) == []  # after the last record
    assert await browse(b, t, start=Tail(0)) == []
    assert _where(await browse(b, t, start=Timestamp(0), limit=3)) == [(0, 0), (1, 0), (0, 1)]


async def test_limit_keeps_the_earliest_forward_and_the_latest_with_tail(ds: DataSet):
    b, t = ds.bootstrap, ds.timed
    assert _where(await browse(b, t, start=Beginning(), limit=3)) == [(0, 0), (1, 0), (0, 1)]
    assert _where(await browse(b, t, start=Tail(5), limit=3)) == [(1, 3), (0, 4), (1, 4)]
    assert len(await browse(b, t, start=Beginning(), limit=1)) == 1
    assert len(await browse(b, t, start=Beginning())) == 10


async def test_offsets_are_clamped_to_the_log_start(ds: DataSet):
    for start in (Offset(0), Beginning(), Tail(10), Timestamp(0)):
        result = await browse(ds.bootstrap, ds.trimmed, start=start)
        assert _where(result) == [(0, 2), (0, 3), (0, 4)], start
        assert [r.raw for r in result] == [b"r2", b"r3", b"r4"]
        assert (result.scans[0].log_start, result.scans[0].end) == (2, 5)


async def test_filters(ds: DataSet):
    b = ds.bootstrap
    mine = await browse(b, ds.orders, start=Beginning(), filter=RecordFilter(root_id=ds.root1))
    # root, reply, error reply (envelopes) + two undecodable records keyed root1
    assert len(mine) == 5 and all(r.root_id == ds.root1 for r in mine)
    needles = await browse(b, ds.orders, start=Beginning(), filter=RecordFilter(text="NEEDLE"))
    assert [r.raw for r in needles] == [b"Plain TEXT with a needle"]
    # a base64 payload is searched decoded; keys are searched too
    assert len(await browse(b, ds.billing, start=Beginning(),
                            filter=RecordFilter(text="needle in BASE64"))) == 1
    assert len(await browse(b, ds.orders, start=Beginning(),
                            filter=RecordFilter(text="junk-KEY"))) == 1
    errors = await browse(b, ds.orders, start=Beginning(),
                          filter=RecordFilter(kind=MessageKind.ERROR_REPLY))
    assert [r.kind for r in errors] == [MessageKind.ERROR_REPLY]
    junk = await browse(b, ds.timed, start=Beginning(), filter=RecordFilter(kind="undecodable"))
    assert _where(junk) == [(1, 2)] and junk[0].decode_error
    both = await browse(b, ds.orders, start=Beginning(),
                        filter=RecordFilter(root_id=ds.root1, kind="request"))
    assert [r.id for r in both] == [ds.root1]
    limited = await browse(b, ds.orders, start=Beginning(), limit=2,
                           filter=RecordFilter(root_id=ds.root1))
    assert limited == mine[:2]
    with pytest.raises(ConfigError):
        RecordFilter(kind="nonsense")


def test_filter_is_pure_and_record_helpers():
    env = Envelope.new_root("a.b.v1", "a.c.v1", {"x": 1})
    child = env.child("a.d.v1", {"Deep": "Value"})
    rec = BrowsedRecord.from_value("a.d.v1", 0, 7, 1_000, env.key, child.encode())
    assert rec.payload_base64 and json.loads(rec.pretty())["payload"] == {"Deep": "Value"}
    assert rec.summary() == '{"Deep":"Value"}'
    assert RecordFilter(text="deep").matches(rec)
    assert RecordFilter(root_id=env.root_id, kind="event").matches(rec)
    assert not RecordFilter(root_id="other").matches(rec)
    assert RecordFilter().matches(rec) and RecordFilter().empty
    big = BrowsedRecord.from_value("t", 0, 0, 0, None, b"a" * (RAW_LIMIT + 10))
    assert big.truncated and len(big.raw) == RAW_LIMIT and big.size == RAW_LIMIT + 10
    assert "truncated" in big.pretty() and len(big.summary()) == 80
    escape = BrowsedRecord.from_value("t", 0, 0, 0, b"k", b"\x1b[2Jred\nline\x00")
    assert "\x1b" not in escape.summary() and "\x00" not in escape.pretty()
    assert escape.summary() == "\ufffd[2Jred line\ufffd" and "red\nline" in escape.pretty()
    tomb = BrowsedRecord.from_value("t", 0, 0, 0, b"k", None)
    assert tomb.kind == "undecodable" and "tombstone" in (tomb.decode_error or "")


async def test_errors_are_clear(ds: DataSet):
    with pytest.raises(NotFound, match="does not exist"):
        await browse(ds.bootstrap, f"{ds.orders}-missing", start=Beginning())
    with pytest.raises(NotFound, match=r"no partition 5 \(it has 2: 0\.\.1\)"):
        await browse(ds.bootstrap, ds.timed, partitions=[5], start=Beginning())
    with pytest.raises(ConfigError):
        await browse(ds.bootstrap, ds.timed, start=Beginning(), limit=0)
    with pytest.raises(ConfigError):
        Offset(-1)
    gone = ConnectionSettings(bootstrap="127.0.0.1:1", request_timeout_s=1)
    with pytest.raises(ClusterUnreachable):
        await browse(gone, ds.timed, start=Beginning())


async def test_browse_stops_at_the_end_it_started_with(ds: DataSet, unique):
    create_topic(ds.bootstrap, unique, partitions=2)
    async with KafkaPublisher(ds.bootstrap) as pub:
        await pub.publish_many(
            Envelope.new_root("a.b.v1", unique, {"i": i}) for i in range(200))
        stop = asyncio.Event()

        async def keep_producing() -> None:
            while not stop.is_set():
                await pub.publish(Envelope.new_root("a.b.v1", unique, {"late": True}))

        producer = asyncio.create_task(keep_producing())
        try:
            result = await browse(ds.bootstrap, unique, start=Beginning(), limit=10_000)
        finally:
            stop.set()
            await producer
    ends = {s.partition: s.end for s in result.scans}
    assert sum(ends.values()) >= 200 and len(result) == sum(ends.values())
    assert all(r.offset < ends[r.partition] for r in result)


# ---- conversations ---------------------------------------------------------------------------


async def test_follow_conversation_reads_one_partition_per_topic(ds: DataSet):
    admin = KafkaAdmin(ds.bootstrap)
    topics_before = set(await admin.topic_names())
    conv = await follow_conversation(ds.bootstrap, ds.root1)
    topics_after = set(await admin.topic_names())
    assert [(r.topic, r.partition, r.offset) for r in conv.records] == ds.conversation1
    assert conv.records[-1].envelope is None  # the undecodable record keyed by root1
    created = [r.created_at_ns for r in conv.records]
    assert created == sorted(created)
    assert [r.kind for r in conv.records[:6]] == [
        "request", "request", "reply", "request", "request", "error_reply"]
    assert conv.records[4].topic == ds.dlq and dict(conv.records[4].headers)

    counts = {ds.orders: 3, ds.billing: 2, ds.dlq: 1, ds.timed: 2, ds.trimmed: 1}
    scanned = {s.topic: s.partition for s in conv.scans}
    assert set(counts) <= set(scanned)  # every topic is searched, .dlq included
    for topic, n in counts.items():
        assert scanned[topic] == partition_for_key(ds.root1, n), topic
    assert len(scanned) == len(conv.scans)  # one partition per topic, never two
    # by default every non-internal topic (other tests' topics too)
    assert topics_before & topics_after <= set(scanned) <= topics_before | topics_after
    assert not any(s.truncated for s in conv.scans if s.topic in counts)
    assert all(s.complete for s in conv.scans) and not conv.timed_out


async def test_follow_conversation_in_given_topics_and_bounded_scan(ds: DataSet):
    conv = await follow_conversation(ds.bootstrap, ds.root1, topics=[ds.billing, ds.dlq])
    assert [(r.topic, r.partition, r.offset) for r in conv.records] == [
        w for w in ds.conversation1 if w[0] in (ds.billing, ds.dlq)]
    assert {s.topic for s in conv.scans} == {ds.billing, ds.dlq}

    home = partition_for_key(ds.root1, 3)
    in_home = sorted(o for t, p, o in ds.by_topic[ds.orders] if p == home)
    short = await follow_conversation(ds.bootstrap, ds.root1, topics=[ds.orders],
                                      per_partition_scan=2)
    assert short.truncated and "last 2 records" in short.describe_scan()
    (scan,) = short.scans
    assert (scan.partition, scan.start, scan.end, scan.scanned) == (
        home, in_home[-1] - 1, in_home[-1] + 1, 2)
    assert [r.offset for r in short.records] == [
        o for t, p, o in ds.conversation1 if t == ds.orders and o >= scan.start]

    other = await follow_conversation(ds.bootstrap, ds.root2, topics=[ds.orders, ds.billing])
    assert [r.envelope.root_id for r in other.records if r.envelope] == [ds.root2] * 2
    with pytest.raises(NotFound):
        await follow_conversation(ds.bootstrap, ds.root1, topics=[f"{ds.orders}-missing"])


# ---- live tail and no side effects -----------------------------------------------------------


async def test_live_tail_follows_new_records(ds: DataSet, unique):
    create_topic(ds.bootstrap, unique, partitions=3)
    async with KafkaPublisher(ds.bootstrap) as pub:
        old = await pub.publish_many(
            Envelope.new_root("a.b.v1", unique, {"old": i}) for i in range(6))
        live = await tail(ds.bootstrap, unique, maxlen=4, backlog=1,
                          filter=RecordFilter(kind="event"))
        try:
            await wait_until(lambda: len(live.records) == len({d.partition for d in old}),
                             what="one backlog record per partition")
            seen: list[BrowsedRecord] = []

            async def iterate(records: AsyncIterator[BrowsedRecord]) -> None:
                async for record in records:
                    seen.append(record)

            records = aiter(live)  # registers the iterator's buffer now
            reader = asyncio.create_task(iterate(records))
            fresh = await pub.publish_many(
                Envelope.new_root("a.b.v1", unique, {"new": i}) for i in range(3))
            await pub.publish_raw(unique, b"not an event", b"k")  # filtered out
            await wait_until(lambda: len(seen) == 3, what="three new records")
            assert {(r.partition, r.offset) for r in seen} == {
                (d.partition, d.offset) for d in fresh}
            backlog = len({d.partition for d in old})
            assert live.received == backlog + 3 and len(live.records) == 4  # maxlen
            assert live.version >= 2 and live.dropped == 0
        finally:
            await live.stop()
        await asyncio.wait_for(reader, 10)  # iteration ends when the tail stops
    assert not live.running


async def test_browsing_creates_no_consumer_group(ds: DataSet):
    before = _groups(ds.bootstrap)
    await browse(ds.bootstrap, ds.orders, start=Beginning())
    await follow_conversation(ds.bootstrap, ds.root1, topics=[ds.orders])
    async with LiveTail(ds.bootstrap, ds.timed, backlog=2) as live:
        await wait_until(lambda: len(live.records) == 4, what="the backlog")
    assert _groups(ds.bootstrap) - before == set()


# ---- CLI -------------------------------------------------------------------------------------

def _run(*args: str) -> tuple[int, str, str]:
    """`nexus-tui messages ARGS...` through the real entry point."""
    proc = nexus("messages", *args)
    return proc.returncode, proc.stdout, proc.stderr


def test_cli_json_and_human(ds: DataSet):
    b = ["-b", ds.bootstrap]
    iso = datetime.fromtimestamp((ds.base_ms + 12) / 1000, UTC).isoformat(timespec="milliseconds")
    code, out, err = _run(ds.timed, "--from-time", iso, "--json", *b)
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["partition"], r["offset"]) for r in rows] == [
        (1, 1), (0, 2), (1, 2), (0, 3), (1, 3), (0, 4), (1, 4)]
    junk = next(r for r in rows if r["envelope"] is None)
    assert junk["kind"] == "undecodable" and junk["decode_error"]
    good = next(r for r in rows if r["envelope"])
    assert good["envelope"]["id"] == ds.timed_ids[(good["partition"], good["offset"])]
    assert set(good) >= {"topic", "partition", "offset", "timestamp_ms", "key", "kind",
                         "envelope", "decode_error"}

    code, out, err = _run(ds.timed, "--tail", "1", "--partition", "1", *b)
    assert code == 0, err
    (line,) = out.strip().splitlines()
    assert "1@4" in line and ds.timed_ids[(1, 4)] in line and '{"i":4,"p":1}' in line

    code, out, err = _run(ds.orders, "--from-beginning", "--grep", "needle",
                          "--json", *b)
    assert code == 0 and [r["kind"] for r in json.loads(out)] == ["undecodable"]
    code, out, err = _run(ds.orders, "--from-offset", "0", "--root-id", ds.root1,
                          "--limit", "2", "--json", *b)
    assert code == 0 and len(json.loads(out)) == 2

    code, out, err = _run("--follow-conversation", ds.root1, "--json", *b)
    assert code == 0, err
    data = json.loads(out)
    assert [(r["topic"], r["partition"], r["offset"]) for r in data["records"]] == (
        ds.conversation1)
    ours = {ds.orders, ds.billing, ds.dlq, ds.timed, ds.trimmed}  # other tests' topics on a
    # shared broker may hold more records than a scan reads: only ours must be read whole
    assert ours <= {s["topic"] for s in data["scanned"]}
    assert not any(s["truncated"] for s in data["scanned"] if s["topic"] in ours)


def test_cli_errors_are_one_line(ds: DataSet):
    b = ["-b", ds.bootstrap]
    cases = [
        ([f"{ds.orders}-missing"], "does not exist"),
        ([ds.timed, "--partition", "7"], "no partition 7"),
        ([ds.timed, "--tail", "3", "--from-beginning"], "use only one of"),
        ([ds.timed, "--from-time", "yesterday"], "not an ISO 8601 time"),
        ([], "give a TOPIC"),
    ]
    for args, expected in cases:
        code, out, err = _run(*args, *b)
        assert code == 1, (args, out, err)
        assert err.startswith("error: ") and expected in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1

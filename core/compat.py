"""Every private name of confluent-kafka and aiokafka that the project uses, in one place.

Each helper below says why it reaches past the public API, the versions it was checked with,
and the public-API fallback it takes when the private name is gone. tests/test_compat.py calls
each one on the real broker both ways (private and fallback) and checks the signatures relied
on, so an upgrade that breaks one fails there, by name, instead of silently in a snapshot.
pyproject.toml pins both libraries to the tested ranges.

Checked with confluent-kafka 2.6.1 and 2.16.1 (each with the librdkafka of its wheel), aiokafka
0.12.0 and 0.14.0:
the ends of the ranges pyproject.toml pins.

The module imports neither library at import time (the aiokafka helpers only use the consumer
they are given; confluent-kafka is imported on first use), so importing it keeps `nexus-tui
groups` free of aiokafka and `from core import Envelope` free of both.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

#: The C methods of confluent-kafka's `_AdminClientImpl` that KafkaAdmin calls directly.
ADMIN_C_METHODS = ("list_offsets", "describe_consumer_groups", "list_consumer_group_offsets")

#: ListOffsets' special timestamps (Kafka protocol constants, KIP-79 / KIP-734).
LATEST, EARLIEST, MAX_TIMESTAMP = -1, -2, -3


# ---- confluent-kafka: the admin client's C methods -------------------------------------------


@functools.cache
def admin_c_method(name: str) -> Callable[..., None] | None:
    """The C method `name` behind `AdminClient.<name>`, or None when it is not there.

    Private: `AdminClient.__mro__[1]` (the C class `cimpl._AdminClientImpl`; checked in
    confluent-kafka 2.6.1 and 2.16.1). Why: its list_offsets, describe_consumer_groups and
    list_consumer_group_offsets take ONE future for the whole request; the public wrappers add
    a future per partition or per group (with its Condition, RLock and callbacks), which made a
    snapshot of 5,000 partitions allocate ~100,000 GC-tracked objects (BENCHMARKS.md §6).
    Fallback (None here): the public wrappers, gathered into one future by the helpers below.
    """
    from confluent_kafka.admin import AdminClient

    base = AdminClient.__mro__[1] if len(AdminClient.__mro__) > 1 else object
    if base is object or base.__name__ != "_AdminClientImpl":
        return None
    method = getattr(base, name, None)
    return method if callable(method) else None


def offset_spec_value(spec: OffsetSpec) -> int:
    """The ListOffsets wire value of an OffsetSpec: LATEST, EARLIEST, MAX_TIMESTAMP, or the
    timestamp in ms (what the C list_offsets reads from each TopicPartition's offset).

    Private: `OffsetSpec._value` (checked in confluent-kafka 2.6.1 and 2.16.1). Fallback: the public
    constructors (`OffsetSpec.earliest()` ... are singletons; `for_timestamp(ts)` keeps
    `.timestamp`), mapped to the protocol's constants.
    """
    value = getattr(spec, "_value", None)
    if isinstance(value, int):
        return value
    return _public_spec_value(spec)


def _public_spec_value(spec: OffsetSpec) -> int:
    from confluent_kafka.admin import OffsetSpec

    for special, value in ((OffsetSpec.latest(), LATEST), (OffsetSpec.earliest(), EARLIEST),
                           (OffsetSpec.max_timestamp(), MAX_TIMESTAMP)):
        if spec is special:
            return value
    timestamp = getattr(spec, "timestamp", None)
    if isinstance(timestamp, int):
        return timestamp
    raise TypeError(f"not an OffsetSpec: {spec!r}")


def list_offsets(
    admin: AdminClient, request: Sequence[TopicPartition], spec: OffsetSpec, timeout: float
) -> Future[Mapping[TopicPartition, Any]]:
    """ONE ListOffsets request. `request`: TopicPartitions whose offset is
    `offset_spec_value(spec)`. The future's result maps each partition to its
    ListOffsetsResultInfo, or to the KafkaError (or exception) that partition got."""
    method = admin_c_method("list_offsets")
    if method is not None:
        fut = _started_future()
        method(admin, list(request), fut, request_timeout=timeout)
        return fut
    from confluent_kafka import TopicPartition

    wanted = {TopicPartition(tp.topic, tp.partition): spec for tp in request}
    futures = admin.list_offsets(wanted, request_timeout=timeout)
    return _gathered(futures, lambda: {tp: _outcome(f) for tp, f in futures.items()})


def describe_consumer_groups(
    admin: AdminClient, group_ids: list[str], timeout: float
) -> Future[list[Any]]:
    """ONE DescribeConsumerGroups call: the future's result is one ConsumerGroupDescription
    (or the KafkaError or exception saying why not) per group id, in order."""
    method = admin_c_method("describe_consumer_groups")
    if method is not None:
        fut = _started_future()
        method(admin, group_ids, fut, request_timeout=timeout)
        return fut
    futures = admin.describe_consumer_groups(list(group_ids),
                                             request_timeout=timeout)
    return _gathered(futures, lambda: [_outcome(futures[g]) for g in group_ids])


def list_consumer_group_offsets(
    admin: AdminClient, request: list[ConsumerGroupTopicPartitions], timeout: float
) -> Future[list[Any]]:
    """ONE OffsetFetch for the group(s) of `request` (librdkafka takes one): the future's
    result is one ConsumerGroupTopicPartitions (or KafkaError or exception) per entry."""
    method = admin_c_method("list_consumer_group_offsets")
    if method is not None:
        fut = _started_future()
        method(admin, request, fut, request_timeout=timeout)
        return fut
    futures = admin.list_consumer_group_offsets(request, request_timeout=timeout)
    return _gathered(futures, lambda: [_outcome(futures[r.group_id]) for r in request])


def _started_future() -> Future[Any]:
    fut: Future[Any] = Future()
    fut.set_running_or_notify_cancel()
    return fut


def _outcome(fut: Future[Any]) -> Any:
    """A done future's result, or its error as the C methods report one (a KafkaError)."""
    exc = fut.exception()
    if exc is None:
        return fut.result()
    from confluent_kafka import KafkaError

    inner = exc.args[0] if exc.args else None
    return inner if isinstance(inner, KafkaError) else exc


def _gathered(futures: Mapping[Any, Future[Any]] | Iterable[Future[Any]],
              result: Callable[[], Any]) -> Future[Any]:
    """One future, done with `result()` once every one of `futures` is done."""
    pending = list(futures.values() if isinstance(futures, Mapping) else futures)
    out = _started_future()
    remaining = len(pending)
    lock = threading.Lock()

    def one_done(_: Future[Any]) -> None:
        nonlocal remaining
        with lock:
            remaining -= 1
            last = remaining == 0
        if last:
            try:
                out.set_result(result())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiter
                out.set_exception(exc)

    if not pending:
        out.set_result(result())
    for fut in pending:
        fut.add_done_callback(one_done)
    return out


# ---- aiokafka: the consumer's client ---------------------------------------------------------


def private_client(consumer: Any) -> Any:
    """The AIOKafkaClient inside an AIOKafkaConsumer (private: `consumer._client`, aiokafka
    0.12.0 and 0.14.0), or None when it is not there: the helpers below then fall back."""
    return getattr(consumer, "_client", None)


async def refresh_metadata(consumer: Any, topic: str) -> None:
    """Have `consumer` fetch fresh metadata for `topic` now (a topic created after start()),
    so that `consumer.partitions_for_topic(topic)` sees it.

    Private: `consumer._client.force_metadata_update()` (aiokafka 0.12.0 and 0.14.0: the
    consumer has no public refresh; `topics()` fetches metadata but does not keep it).
    Fallback: the public `consumer.assign([TopicPartition(topic, 0)])`, which makes the client
    track the topic and fetch its metadata in the background; the caller assigns the real
    partitions afterwards.
    """
    force = getattr(private_client(consumer), "force_metadata_update", None)
    if callable(force):
        await force()
        return
    from aiokafka import TopicPartition

    if TopicPartition(topic, 0) not in consumer.assignment():
        consumer.assign([TopicPartition(topic, 0)])


async def close_client(consumer: Any) -> None:
    """Close the connections of `consumer` after its `stop()` was cut short (see
    core/messaging/consumer_stop.py: aio-libs/aiokafka#647).

    Private: `consumer._client.close()` (aiokafka 0.12.0 and 0.14.0). Fallback: none exists in the
    public API (`stop()` is what failed): the connections then close when the consumer is
    garbage-collected, as aiokafka's own ResourceWarning says.
    """
    close = getattr(private_client(consumer), "close", None)
    if callable(close):
        await close()


# ---- aiokafka: metadata requests that never create a topic ------------------------------------

#: set while a client made by `no_topic_auto_creation` builds its Metadata request
_NO_AUTO_CREATE: ContextVar[bool] = ContextVar("nexus_tui_no_auto_create", default=False)


def no_topic_auto_creation(consumer: Any) -> bool:
    """Make every Metadata request of `consumer`'s client say allow_auto_topic_creation=false,
    so that a topic it reads, once deleted, is not re-created empty by a broker with
    ``auto.create.topics.enable=true`` (Kafka's default). True when in place.

    Why: aiokafka (0.12 to 0.14) has no option for it. Its client refreshes the metadata of
    the topics it reads with ``MetadataRequest(topics)``, which leaves the flag at its default,
    true (Metadata v4+; v1-v3, which aiokafka 0.12 sends, always allow it). A consumer whose
    topic is deleted asks for that topic again at once (the fetch fails with
    UNKNOWN_TOPIC_OR_PARTITION), so the broker re-creates it with its defaults.

    Private: `aiokafka.client.MetadataRequest` (the name the client builds these requests
    with; replaced once, process-wide, by `_guarded_metadata_request`, which passes
    ``allow_auto_topic_creation=False`` only while `_NO_AUTO_CREATE` is set, so every other
    client is unchanged) and `consumer._client._metadata_update` (wrapped on this one client
    to set it). Checked with aiokafka 0.14.0. Fallback (False: aiokafka 0.12, or these names
    gone): none in the public API; the caller drops a topic that vanished from the cluster's
    metadata (TrafficWatcher), which narrows the window but cannot close it.
    """
    client = private_client(consumer)
    update = getattr(client, "_metadata_update", None)
    if not callable(update) or _guarded_metadata_request() is None:
        return False
    if getattr(update, "no_topic_auto_creation", False):
        return True

    async def metadata_update(*args: Any, **kwargs: Any) -> Any:
        token = _NO_AUTO_CREATE.set(True)
        try:
            return await update(*args, **kwargs)
        finally:
            _NO_AUTO_CREATE.reset(token)

    metadata_update.no_topic_auto_creation = True  # type: ignore[attr-defined]
    client._metadata_update = metadata_update
    return True


@functools.cache
def _guarded_metadata_request() -> Callable[..., Any] | None:
    """Put the context-aware MetadataRequest factory in `aiokafka.client` (once), or None when
    this aiokafka's MetadataRequest takes no allow_auto_topic_creation."""
    try:
        import aiokafka.client as client_module
        from aiokafka.protocol.metadata import MetadataRequest
    except ImportError:
        return None
    if getattr(client_module, "MetadataRequest", None) is not MetadataRequest:
        return None  # aiokafka 0.12's list of versions, or not the name we know
    try:
        parameters = inspect.signature(MetadataRequest).parameters
    except (TypeError, ValueError):
        return None
    if "allow_auto_topic_creation" not in parameters:
        return None

    def metadata_request(topics: list[str] | None = None,
                         allow_auto_topic_creation: bool | None = None) -> Any:
        if allow_auto_topic_creation is None and _NO_AUTO_CREATE.get():
            allow_auto_topic_creation = False
        return MetadataRequest(topics, allow_auto_topic_creation)

    client_module.MetadataRequest = metadata_request
    return metadata_request


# ---- aiokafka: a request neither client library sends -----------------------------------------


def offset_delete_request(group_id: str, topic: str, partitions: Sequence[int]) -> Any:
    """Kafka's OffsetDelete request (API key 47, KIP-496: `kafka-consumer-groups
    --delete-offsets`) as an aiokafka request, for the public `AIOKafkaClient.send` to the
    group's coordinator (core/cluster/offset_delete.py); None when it cannot be built.

    Private: `aiokafka.protocol` (api.Request/RequestStruct/Response, types; aiokafka 0.12 to
    0.14), whose docstrings describe Request subclasses as the way to add a request, outside
    the package's public API. Why: confluent-kafka (2.16) has no delete_consumer_group_offsets
    in Python, and aiokafka's clients do not send OffsetDelete. Fallback: none (None: the
    caller says to use Kafka's own tool).
    """
    built = _offset_delete_class()
    return None if built is None else built(group_id, topic, list(partitions))


@functools.cache
def _offset_delete_class() -> Any:
    try:
        from aiokafka.protocol.api import Request, RequestStruct, Response
        from aiokafka.protocol.types import Array, Int16, Int32, Schema, String
    except ImportError:
        return None

    class OffsetDeleteResponse_v0(Response):  # noqa: N801 (aiokafka's naming of versions)
        API_KEY = 47
        API_VERSION = 0
        SCHEMA = Schema(
            ("error_code", Int16), ("throttle_time_ms", Int32),
            ("topics", Array(("name", String("utf-8")),
                             ("partitions", Array(("partition_index", Int32),
                                                  ("error_code", Int16))))))

    class OffsetDeleteRequest_v0(RequestStruct):  # noqa: N801
        API_KEY = 47
        API_VERSION = 0
        RESPONSE_TYPE = OffsetDeleteResponse_v0
        SCHEMA = Schema(("group_id", String("utf-8")),
                        ("topics", Array(("name", String("utf-8")),
                                         ("partitions", Array(Int32)))))

    class OffsetDeleteRequest(Request[OffsetDeleteRequest_v0]):
        API_KEY = 47

        def __init__(self, group_id: str, topic: str, partitions: list[int]) -> None:
            self.args = (group_id, [(topic, partitions)])

        def build(self, request_struct_class: type[OffsetDeleteRequest_v0]
                  ) -> OffsetDeleteRequest_v0:
            return request_struct_class(*self.args)

    return OffsetDeleteRequest


#: the aiokafka.protocol.types names the engine's group requests are built from
PROTOCOL_TYPES = ("Array", "Boolean", "CompactArray", "CompactBytes", "CompactString", "Int8",
                  "Int16", "Int32", "Int64", "Schema", "String", "TaggedFields")


def aiokafka_protocol() -> Any:
    """aiokafka's request-building classes, for the engine's batched group requests
    (core/engine/group_requests.py).

    Private: `aiokafka.protocol` (api.Request/RequestStruct/Response and the types in
    PROTOCOL_TYPES; aiokafka 0.12 to 0.14), outside the package's public API, though its
    docstrings describe Request subclasses as the way to add a request. Why: aiokafka's admin
    client reads groups one request per group and parses DescribeGroups v3 with the v2 layout.
    Fallback: none; an aiokafka without these names fails here, by name, at import."""
    from types import SimpleNamespace

    from aiokafka.protocol import api, types

    names = {n: getattr(api, n) for n in ("Request", "RequestStruct", "Response")}
    names.update({n: getattr(types, n) for n in PROTOCOL_TYPES})
    return SimpleNamespace(TYPES=PROTOCOL_TYPES, **names)

"""Kafka's OffsetDelete request (API key 47, KIP-496): delete a group's committed offsets of
some partitions, as `kafka-consumer-groups --delete-offsets` does.

Neither confluent-kafka (2.16: no `delete_consumer_group_offsets` in Python, though librdkafka
has it) nor aiokafka's admin client offers it, so it is sent here as an aiokafka `Request`
subclass — the extension point aiokafka's protocol package documents (`aiokafka.protocol.api`)
— through the public `AIOKafkaClient.send` to the group's coordinator.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError as AioKafkaError
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String
from confluent_kafka import KafkaError as ConfluentError

from core.config.settings import ConnectionSettings
from core.errors import NexusError

API_KEY = 47


class OffsetDeleteResponse_v0(Response):  # noqa: N801 (aiokafka's naming of versions)
    API_KEY = API_KEY
    API_VERSION = 0
    SCHEMA = Schema(
        ("error_code", Int16),
        ("throttle_time_ms", Int32),
        ("topics", Array(("name", String("utf-8")),
                         ("partitions", Array(("partition_index", Int32),
                                              ("error_code", Int16))))),
    )


class OffsetDeleteRequest_v0(RequestStruct):  # noqa: N801
    API_KEY = API_KEY
    API_VERSION = 0
    RESPONSE_TYPE = OffsetDeleteResponse_v0
    SCHEMA = Schema(
        ("group_id", String("utf-8")),
        ("topics", Array(("name", String("utf-8")), ("partitions", Array(Int32)))),
    )


class OffsetDeleteRequest(Request[OffsetDeleteRequest_v0]):
    API_KEY = API_KEY

    def __init__(self, group_id: str, topic: str, partitions: Sequence[int]) -> None:
        self.group_id = group_id
        self.topic = topic
        self.partitions = list(partitions)

    def build(self, request_struct_class: type[OffsetDeleteRequest_v0]
              ) -> OffsetDeleteRequest_v0:
        return request_struct_class(self.group_id, [(self.topic, self.partitions)])


def _error_name(code: int) -> str:
    """The broker's error in words (confluent-kafka knows every code; aiokafka not 86)."""
    err = ConfluentError(code)
    return f"{err.str().removeprefix('Broker: ')} ({err.name()})"


async def delete_group_offsets(settings: ConnectionSettings, group_id: str, topic: str,
                               partitions: Sequence[int]) -> None:
    """Delete `group_id`'s commits on these partitions of `topic`, or raise NexusError with
    the broker's reason (e.g. GROUP_SUBSCRIBED_TO_TOPIC: the group consumes the topic)."""
    settings.check_writable("delete group offsets")
    kwargs = settings.aiokafka_kwargs()
    timeout_ms = int(settings.request_timeout_s * 1000)
    admin = AIOKafkaAdminClient(request_timeout_ms=timeout_ms, **kwargs)
    client = AIOKafkaClient(request_timeout_ms=timeout_ms, **kwargs)
    try:
        await admin.start()
        await client.bootstrap()
        coordinator = await admin.find_coordinator(group_id)
        response = await client.send(coordinator, OffsetDeleteRequest(group_id, topic,
                                                                      partitions))
    except AioKafkaError as exc:
        raise NexusError(f"delete offsets of group {group_id}: {exc}") from None
    finally:
        await client.close()
        await admin.close()
    if response.error_code:
        raise NexusError(f"delete offsets of group {group_id}: "
                         f"{_error_name(response.error_code)}")
    failed = [f"{name}[{p}]: {_error_name(code)}" for name, parts in response.topics
              for p, code in parts if code]
    if failed:
        raise NexusError(f"delete offsets of group {group_id} failed for " + "; ".join(failed))

"""Kafka's OffsetDelete request (KIP-496): delete a group's committed offsets of some
partitions, as `kafka-consumer-groups --delete-offsets` does.

Neither confluent-kafka (2.16: no `delete_consumer_group_offsets` in Python, though librdkafka
has it) nor aiokafka's clients send it: the request is built in core/compat.py and sent with
the public `AIOKafkaClient.send` to the group's coordinator (`coordinator_lookup`).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError as AioKafkaError
from confluent_kafka import KafkaError as ConfluentError
from confluent_kafka import KafkaException

from core.cluster.admin import kafka_error_text
from core.compat import offset_delete_request
from core.config.settings import ConnectionSettings
from core.errors import NexusError

GROUP_COORDINATOR = 0


def _error_name(code: int) -> str:
    """The broker's error in words (confluent-kafka knows every code; aiokafka not 86), an
    authorization error in the same words as every other command's (it names the ACL)."""
    err = ConfluentError(code)
    text = kafka_error_text(KafkaException(err))
    if text.startswith("not authorized"):
        return text
    return f"{err.str().removeprefix('Broker: ')} ({err.name()})"


async def delete_group_offsets(settings: ConnectionSettings, group_id: str, topic: str,
                               partitions: Sequence[int]) -> None:
    """Delete `group_id`'s commits on these partitions of `topic`, or raise NexusError with
    the broker's reason (e.g. GROUP_SUBSCRIBED_TO_TOPIC: the group consumes the topic)."""
    settings.check_writable("delete group offsets")
    request = offset_delete_request(group_id, topic, partitions)
    if request is None:
        raise NexusError("this aiokafka cannot send OffsetDelete: use kafka-consumer-groups "
                         "--delete-offsets")
    client = AIOKafkaClient(request_timeout_ms=int(settings.request_timeout_s * 1000),
                            **settings.aiokafka_kwargs())
    try:
        await client.bootstrap()
        coordinator = await client.coordinator_lookup(GROUP_COORDINATOR, group_id)
        response = await client.send(coordinator, request)
    except AioKafkaError as exc:
        raise NexusError(f"delete offsets of group {group_id}: {exc}") from None
    finally:
        await client.close()
    if response.error_code:
        raise NexusError(f"delete offsets of group {group_id}: "
                         f"{_error_name(response.error_code)}")
    failed = [f"{name}[{p}]: {_error_name(code)}" for name, parts in response.topics
              for p, code in parts if code]
    if failed:
        raise NexusError(f"delete offsets of group {group_id} failed for " + "; ".join(failed))

"""The shared async Kafka core of nexus-tui (never imports the UI).

A Python port of the Nexus Kafka publisher/subscriber with at-least-once delivery, retries,
a dead-letter topic and metrics; plus the cluster operations the dashboard and CLI use.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it. Imported on first use (PEP 562), so a command
#: that only needs the admin client does not pay for aiokafka and prometheus_client.
_EXPORTS: dict[str, str] = {
    name: module
    for module, names in {
        "core.wire.envelope": ("Envelope", "EnvelopeError", "MessageKind"),
        "core.wire.partitioner": ("murmur2", "partition_for_key"),
        "core.wire.topic_names": ("TopicName", "TopicNameError", "dead_letter_topic"),
        "core.errors": ("ConfigError", "NexusError", "ReadOnlyError"),
        "core.messaging.inbox": ("RemoteError", "ReplyInbox", "ReplyTimeout"),
        "core.messaging.metrics": ("ClientMetrics", "MetricsSnapshot"),
        "core.messaging.publisher": ("Delivery", "KafkaPublisher", "PublishError"),
        "core.messaging.requester": ("RequestResult", "Requester"),
        "core.messaging.retry": ("RetryPolicy",),
        "core.messaging.subscriber": ("DLQ_HEADERS", "HandlerContext", "KafkaSubscriber"),
        "core.config.secret": ("Secret",),
        "core.config.settings": ("ConnectionSettings",),
    }.items()
    for name in names
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from core.config.settings import ConnectionSettings
    from core.errors import ConfigError, NexusError, ReadOnlyError
    from core.messaging.inbox import RemoteError, ReplyInbox, ReplyTimeout
    from core.messaging.metrics import ClientMetrics, MetricsSnapshot
    from core.messaging.publisher import Delivery, KafkaPublisher, PublishError
    from core.messaging.requester import Requester, RequestResult
    from core.messaging.retry import RetryPolicy
    from core.messaging.subscriber import DLQ_HEADERS, HandlerContext, KafkaSubscriber
    from core.wire.envelope import Envelope, EnvelopeError, MessageKind
    from core.wire.partitioner import murmur2, partition_for_key
    from core.wire.topic_names import TopicName, TopicNameError, dead_letter_topic

__all__ = [
    "DLQ_HEADERS", "ClientMetrics", "ConfigError", "ConnectionSettings", "Delivery", "Envelope",
    "EnvelopeError", "HandlerContext", "KafkaPublisher", "KafkaSubscriber", "MessageKind",
    "MetricsSnapshot", "NexusError", "PublishError", "ReadOnlyError", "RemoteError",
    "ReplyInbox", "ReplyTimeout", "RequestResult", "Requester", "RetryPolicy", "TopicName",
    "TopicNameError", "dead_letter_topic", "murmur2", "partition_for_key",
]

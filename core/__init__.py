"""The shared async Kafka core of nexus-tui (never imports the UI).

A Python port of the Nexus Kafka publisher/subscriber with at-least-once delivery, retries,
a dead-letter topic and metrics; plus the cluster operations the dashboard and CLI use.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it. Imported on first use (PEP 562), so a command
#: that only needs the admin client does not pay for aiokafka, pydantic and prometheus_client.
_EXPORTS = {
    "Envelope": "core.envelope", "EnvelopeError": "core.envelope", "MessageKind": "core.envelope",
    "ConfigError": "core.errors", "NexusError": "core.errors", "ReadOnlyError": "core.errors",
    "RemoteError": "core.inbox", "ReplyInbox": "core.inbox", "ReplyTimeout": "core.inbox",
    "ClientMetrics": "core.metrics", "MetricsSnapshot": "core.metrics",
    "murmur2": "core.partitioner", "partition_for_key": "core.partitioner",
    "Delivery": "core.publisher", "KafkaPublisher": "core.publisher",
    "PublishError": "core.publisher",
    "RequestResult": "core.requester", "Requester": "core.requester",
    "RetryPolicy": "core.retry",
    "ConnectionSettings": "core.settings",
    "DLQ_HEADERS": "core.subscriber", "HandlerContext": "core.subscriber",
    "KafkaSubscriber": "core.subscriber",
    "TopicName": "core.topics", "TopicNameError": "core.topics",
    "dead_letter_topic": "core.topics",
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
    from core.envelope import Envelope, EnvelopeError, MessageKind
    from core.errors import ConfigError, NexusError, ReadOnlyError
    from core.inbox import RemoteError, ReplyInbox, ReplyTimeout
    from core.metrics import ClientMetrics, MetricsSnapshot
    from core.partitioner import murmur2, partition_for_key
    from core.publisher import Delivery, KafkaPublisher, PublishError
    from core.requester import Requester, RequestResult
    from core.retry import RetryPolicy
    from core.settings import ConnectionSettings
    from core.subscriber import DLQ_HEADERS, HandlerContext, KafkaSubscriber
    from core.topics import TopicName, TopicNameError, dead_letter_topic

__all__ = [
    "DLQ_HEADERS", "ClientMetrics", "ConfigError", "ConnectionSettings", "Delivery", "Envelope",
    "EnvelopeError", "HandlerContext", "KafkaPublisher", "KafkaSubscriber", "MessageKind",
    "MetricsSnapshot", "NexusError", "PublishError", "ReadOnlyError", "RemoteError",
    "ReplyInbox", "ReplyTimeout", "RequestResult", "Requester", "RetryPolicy", "TopicName",
    "TopicNameError", "dead_letter_topic", "murmur2", "partition_for_key",
]

"""The shared async Kafka core of nexus-tui (never imports the UI).

A Python port of the Nexus Kafka publisher/subscriber with at-least-once delivery, retries,
a dead-letter topic and metrics; plus the cluster operations the dashboard and CLI use.
"""

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

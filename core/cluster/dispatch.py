"""A test dispatch: send one request, confirmed by the broker's ack, and wait for its reply.

Both latencies it reports run from the moment the record is handed to the producer, so they
measure the cluster and the service, not the tool's start-up:

- the producer is not idempotent: an idempotent producer first waits for a producer id
  (InitProducerId), which made a one-shot dispatch's first record wait up to a second.
  Idempotence only guards a stream's order and its retries against duplicates; for one test
  record, a retry after a lost ack could at worst deliver it twice (acks=all still holds),
  and the reply to either copy matches the same id;
- the producer is started first, so it connects to the cluster while the reply consumer
  positions itself, before the clock starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.cluster.admin import KafkaAdmin
from core.cluster.audit import audited
from core.config.settings import ConnectionSettings
from core.messaging.inbox import RemoteError, ReplyTimeout
from core.messaging.publisher import Delivery, KafkaPublisher
from core.messaging.requester import Requester
from core.wire.envelope import Envelope
from core.wire.topic_names import validate_kafka_topic


@dataclass(frozen=True)
class DispatchResult:
    request: Envelope
    delivery: Delivery  # the broker's ack: "sent" means this exists
    reply: Envelope | None  # the reply or error reply; None when none came in time
    latency_ms: float | None  # record handed to the producer -> reply received
    error: str | None  # the error reply's text, or why there is no reply
    ack_ms: float | None = None  # record handed to the producer -> broker's ack

    @property
    def reply_ms(self) -> float | None:
        """The reply round trip (same as latency_ms)."""
        return self.latency_ms


async def ensure_reply_topic(admin: KafkaAdmin, topic: str) -> None:
    """Create the reply topic when it is missing (3 partitions, replicated where possible)."""
    if topic in await admin.topic_names(include_internal=True):
        return
    snap_brokers = len((await admin.snapshot(groups=False, configs=False,
                                             topic_filter="^$")).brokers)
    await admin.create_topics([(topic, 3, min(3, max(1, snap_brokers)))])


async def dispatch_once(
    settings: ConnectionSettings, topic: str, payload: Any, *, root_id: str | None = None,
    reply_timeout: float = 30.0, reply_topic: str = "nexus-tui.replies.v1",
    source_topic: str | None = None,
    on_sent: Callable[[Envelope, Delivery], None] | None = None,
) -> DispatchResult:
    """Validate everything before sending; send; await the reply unless reply_timeout is 0."""
    settings.check_writable("dispatch")
    validate_kafka_topic(topic)
    validate_kafka_topic(reply_topic)
    admin = KafkaAdmin(settings)
    await admin.partitions_of(topic)  # NotFound: never auto-create the destination by producing
    await ensure_reply_topic(admin, reply_topic)
    publisher = KafkaPublisher(settings, preset="low-latency", idempotence=False)
    await publisher.start()  # librdkafka connects while the reply consumer positions itself
    try:
        async with Requester(settings, reply_topic, publisher, source_topic) as requester:
            request = requester.build(topic, payload, root_id)
            request.encode()  # a payload that cannot be JSON fails here, before anything is sent
            with audited(settings, "dispatch", _audit_args(request)) as record:
                result = await _send(requester, request, reply_timeout, on_sent)
                record.result = {"partition": result.delivery.partition,
                                 "offset": result.delivery.offset, "error": result.error,
                                 "reply_kind": result.reply.kind.value if result.reply else None}
            return result
    finally:
        await publisher.close()


async def _send(
    requester: Requester, request: Envelope, reply_timeout: float,
    on_sent: Callable[[Envelope, Delivery], None] | None,
) -> DispatchResult:
    acked_at: list[float] = []

    def at_ack(sent: Envelope, delivery: Delivery) -> None:
        acked_at.append(time.perf_counter())
        if on_sent is not None:
            on_sent(sent, delivery)

    def ms_since(moment: float, start: float) -> float:
        return (moment - start) * 1000

    started = time.perf_counter()  # the record is handed to the producer now
    if reply_timeout <= 0:
        delivery = await requester.publisher.publish(request)
        at_ack(request, delivery)
        return DispatchResult(request, delivery, None, None, None, ms_since(acked_at[0], started))
    try:
        delivery, reply, _ = await requester.send_and_wait(request, reply_timeout,
                                                          on_sent=at_ack)
        replied = time.perf_counter()
        return DispatchResult(request, delivery, reply, ms_since(replied, started), None,
                              ms_since(acked_at[0], started))
    except RemoteError as exc:
        replied = time.perf_counter()
        return DispatchResult(request, exc.delivery, exc.reply, ms_since(replied, started),
                              exc.reply.error_message or str(exc),
                              ms_since(acked_at[0], started))
    except ReplyTimeout as exc:
        return DispatchResult(request, exc.delivery, None, None, str(exc),
                              ms_since(acked_at[0], started) if acked_at else None)


def _audit_args(request: Envelope) -> dict[str, Any]:
    """What the audit log keeps of a dispatch: where, the ids, and the payload (cut at 2 KB)."""
    payload = request.encode().decode("utf-8", "replace")
    return {"topic": request.destination_topic, "id": request.id, "root_id": request.root_id,
            "envelope": payload if len(payload) <= 2048 else payload[:2048] + "…"}

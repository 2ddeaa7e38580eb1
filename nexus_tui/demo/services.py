"""The demo's Nexus services and traffic, built only on `core` (no UI import here).

Six small services and one client run on one asyncio loop against a real cluster:

- names lookup (`demo.names.lookup.cmd.v1`): answers every request at once;
- names validate (`demo.names.validate.cmd.v1`): answers, with an error reply for the
  "suspended" users (about one in eight);
- greeting (`demo.greeting.v1`): the conversation of WIRE.md. For each client request it
  dispatches a lookup and a validate request (their replies come back on its own topic),
  then the `demo.audit.greeted.evt.v1` event and the final reply; a validate error becomes an
  error reply to the client;
- audit (`demo.audit.greeted.evt.v1`): consumes the events;
- order fulfilment (`demo.orders.v1`): a slow consumer. Its handler delay alternates every
  `SLOW_PHASE_S` seconds between half and 1.6 times the produce rate, so its lag grows and
  drains in waves;
- payments (`demo.payments.v1`): flaky. Some requests are declined (error reply), some fail
  once and succeed on retry (`RetryPolicy`), some always fail and are dead-lettered to
  `demo.payments.v1.dlq` (the client then sees a timeout, as a Go caller would);
- the client (`client.app.v1`, replies on `client.app.replies.v1`): the traffic generator.
  `HOT_SHARE` of its greeting conversations reuse a few root ids that all hash to one
  partition, so that partition runs hot (max/mean ≈ 3 on the greeting topics).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka import ConsumerRecord

from core.config.settings import ConnectionSettings
from core.errors import NexusError
from core.messaging.inbox import RemoteError, ReplyTimeout
from core.messaging.metrics import ClientMetrics
from core.messaging.publisher import KafkaPublisher
from core.messaging.requester import Requester
from core.messaging.retry import RetryPolicy
from core.messaging.subscriber import HandlerContext, KafkaSubscriber
from core.wire.envelope import Envelope, MessageKind
from core.wire.partitioner import partition_for_key
from core.wire.topic_names import dead_letter_topic

log = logging.getLogger("nexus_tui.demo")

# ---- names -------------------------------------------------------------------------------------

CLIENT = "client.app.v1"
CLIENT_REPLIES = "client.app.replies.v1"
GREETING = "demo.greeting.v1"
LOOKUP = "demo.names.lookup.cmd.v1"
VALIDATE = "demo.names.validate.cmd.v1"
AUDIT = "demo.audit.greeted.evt.v1"
ORDERS = "demo.orders.v1"
PAYMENTS = "demo.payments.v1"

#: Topics the services consume (each has a dead-letter topic).
HANDLER_TOPICS = (GREETING, LOOKUP, VALIDATE, AUDIT, ORDERS, PAYMENTS)
BUSY_PARTITIONS = 6
DLQ_PARTITIONS = 1

#: Consumer group of each service.
GROUPS = {
    GREETING: "demo-greeting",
    LOOKUP: "demo-names-lookup",
    VALIDATE: "demo-names-validate",
    AUDIT: "demo-audit",
    ORDERS: "demo-orders-fulfilment",
    PAYMENTS: "demo-payments",
}
SLOW_GROUP = GROUPS[ORDERS]
FLAKY_GROUP = GROUPS[PAYMENTS]

# ---- traffic shape -----------------------------------------------------------------------------

#: Share of `--rate` (messages/s) per flow. A greeting conversation is 7 records (request,
#: 2 child requests, 2 replies, 1 event, 1 final reply), a payment 2 (request, reply).
GREETING_SHARE = 0.70
ORDER_SHARE = 0.12
PAYMENT_SHARE = 0.18
RECORDS_PER_GREETING = 7
RECORDS_PER_PAYMENT = 2

HOT_SHARE = 0.4
"""Share of greeting conversations that reuse one of the hot root ids."""
HOT_ROOTS = 4
SLOW_PHASE_S = 25.0
"""Length of each phase of the slow consumer (slow, then fast, then slow ...)."""
SLOW_FACTOR = 0.5
FAST_FACTOR = 1.6
"""Consume capacity of the slow consumer relative to its produce rate, per phase."""

CHILD_TIMEOUT_S = 5.0
CLIENT_TIMEOUT_S = 15.0
MAX_IN_FLIGHT = 2_000
WARMUP_S = 30.0
TICK_S = 0.1
PAYMENT_RETRY = RetryPolicy(attempts=3, base_s=0.2, cap_s=1.0)

USERS = tuple(f"u-{n}" for n in range(1, 41))
NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia",
         "Leslie")

PaymentOutcome = Literal["captured", "declined", "transient", "poison"]


def topic_plan(brokers: int) -> list[tuple[str, int, int]]:
    """(name, partitions, replication factor) of every demo topic."""
    rf = min(3, brokers)
    busy = [(t, BUSY_PARTITIONS, rf) for t in (*HANDLER_TOPICS, CLIENT_REPLIES)]
    dlq = [(dead_letter_topic(t), DLQ_PARTITIONS, rf) for t in HANDLER_TOPICS]
    return busy + dlq


def hot_root_ids(count: int = HOT_ROOTS, partitions: int = BUSY_PARTITIONS) -> list[str]:
    """`count` root ids that all hash (murmur2, as Kafka) to the partition of the first one."""
    first = f"{CLIENT}:session-0"
    target = partition_for_key(first, partitions)
    found = [first]
    n = 1
    while len(found) < count:
        candidate = f"{CLIENT}:session-{n}"
        if partition_for_key(candidate, partitions) == target:
            found.append(candidate)
        n += 1
    return found


def hot_partition(partitions: int = BUSY_PARTITIONS) -> int:
    """The partition the hot root ids land on (the same on every busy topic)."""
    return partition_for_key(hot_root_ids(1, partitions)[0], partitions)


def is_suspended(user_id: str) -> bool:
    """Validate answers with an error for these users (u-8, u-16, ...: one in eight)."""
    try:
        return int(user_id.rsplit("-", 1)[1]) % 8 == 0
    except (IndexError, ValueError):
        return True


def payment_outcome(request_id: str) -> PaymentOutcome:
    """What the flaky payments handler does with a request (stable across its retries).

    About 70 % captured, 10 % declined (error reply), 12 % fail once then succeed on retry,
    8 % always fail (dead-lettered after the retries).
    """
    bucket = zlib.crc32(request_id.encode()) % 100
    if bucket < 70:
        return "captured"
    if bucket < 80:
        return "declined"
    if bucket < 92:
        return "transient"
    return "poison"


def slow_consumer_phase(
    elapsed_s: float, produce_rate_per_partition: float, phase_s: float = SLOW_PHASE_S
) -> tuple[Literal["slow", "fast"], float]:
    """The slow consumer's phase and handler delay (seconds per record) at `elapsed_s`.

    One handler task runs per partition, so a delay d gives 1/d records/s per partition:
    the slow phase consumes at SLOW_FACTOR times the produce rate (lag grows), the fast one at
    FAST_FACTOR times (lag drains). It starts slow.
    """
    rate = max(produce_rate_per_partition, 0.01)
    if int(elapsed_s // phase_s) % 2 == 0:
        return "slow", 1.0 / (SLOW_FACTOR * rate)
    return "fast", 1.0 / (FAST_FACTOR * rate)


@dataclass(frozen=True)
class FlowRates:
    """Messages per second of each flow for a total `--rate`."""

    greetings: float
    orders: float
    payments: float

    @classmethod
    def for_total(cls, rate: float) -> FlowRates:
        return cls(
            greetings=rate * GREETING_SHARE / RECORDS_PER_GREETING,
            orders=rate * ORDER_SHARE,
            payments=rate * PAYMENT_SHARE / RECORDS_PER_PAYMENT,
        )


# ---- live figures ------------------------------------------------------------------------------


@dataclass
class DemoCounters:
    """What the client and the services saw (updated on the services' loop only)."""

    greetings_sent: int = 0
    greetings_ok: int = 0
    greetings_error: int = 0
    greetings_timeout: int = 0
    orders_sent: int = 0
    payments_sent: int = 0
    payments_ok: int = 0
    payments_declined: int = 0
    payments_timeout: int = 0
    send_failures: int = 0
    skipped_in_flight: int = 0
    handler_errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoStatus:
    """One look at the demo, for the status line."""

    uptime_s: float
    published: int
    counters: DemoCounters
    orders_phase: str
    orders_lag: int
    payment_retries: int
    dead_lettered: int
    in_flight: int
    ready: bool
    failures: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["uptime_s"] = round(self.uptime_s, 1)
        return data

    def line(self, msgs_per_s: float | None) -> str:
        c = self.counters
        rate = f"{msgs_per_s:.0f} msg/s" if msgs_per_s is not None else "- msg/s"
        text = (
            f"[{self.uptime_s:5.0f} s] {rate} · greetings {c.greetings_ok} ok, "
            f"{c.greetings_error} error replies, {c.greetings_timeout} timeouts · orders lag "
            f"{self.orders_lag} ({self.orders_phase} phase) · payments {c.payments_ok} ok, "
            f"{c.payments_declined} declined, {self.payment_retries} retries, "
            f"{self.dead_lettered} dead-lettered"
        )
        if not self.ready:
            text += " · services warming up"
        if self.failures:
            text += " · FAILED: " + "; ".join(self.failures)
        return text


# ---- the services ------------------------------------------------------------------------------


class DemoServices:
    """All demo services and the traffic generator on the running loop: `start()`, `stop()`."""

    def __init__(
        self,
        settings: ConnectionSettings,
        rate: float = 100.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.rates = FlowRates.for_total(rate)
        self.rng = rng or random.Random()
        self.clock = clock
        self.counters = DemoCounters()
        self.hot_roots = hot_root_ids()
        self.metrics = ClientMetrics()
        self.publisher = KafkaPublisher(
            settings, metrics=self.metrics,
            client_properties={"logger": logging.getLogger("nexus_tui.demo.librdkafka")},
        )
        self.subscribers: dict[str, KafkaSubscriber] = {}
        self.requester: Requester | None = None
        self._started_at = clock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._generator: asyncio.Task[None] | None = None
        self._ready = False
        self._stopping = False
        self._greetings_in_hand = 0

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every service, then the client; returns once all are started (group joins
        finish in the background: see `ready`)."""
        self._started_at = self.clock()
        await self.publisher.start()
        handlers = {
            GREETING: self._greet, LOOKUP: self._lookup, VALIDATE: self._validate,
            AUDIT: self._audit, ORDERS: self._fulfil_order, PAYMENTS: self._pay,
        }
        for topic, handler in handlers.items():
            sub = KafkaSubscriber(
                self.settings, GROUPS[topic], publisher=self.publisher,
                retry=PAYMENT_RETRY if topic == PAYMENTS else RetryPolicy(attempts=2),
                on_error=self._on_handler_error, metrics=ClientMetrics(),
            )
            sub.handle(topic, handler)
            self.subscribers[topic] = sub
        await asyncio.gather(*(s.start() for s in self.subscribers.values()))
        self.requester = Requester(self.settings, CLIENT_REPLIES, publisher=self.publisher,
                                   source_topic=CLIENT)
        await self.requester.start()
        self._generator = asyncio.create_task(self._generate(), name="demo-traffic")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the client, then the greeting service (it waits on the others), then the rest;
        each step bounded by `timeout_s`."""
        tasks = [t for t in (self._generator, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.requester is not None:
            await _bounded(self.requester.close(), timeout_s, "client")
        # New records are skipped from now on (the demo's cluster goes away with it); the
        # greetings in hand get their children's replies while every consumer still fetches.
        self._stopping = True
        await _bounded(self._greetings_done(), timeout_s, "greetings in hand")
        greeting = self.subscribers.get(GREETING)
        if greeting is not None:
            await _bounded(greeting.stop(), timeout_s, GROUPS[GREETING])
        await asyncio.gather(*(
            _bounded(s.stop(), timeout_s, s.group_id)
            for topic, s in self.subscribers.items() if topic != GREETING
        ))
        await _bounded(self.publisher.close(timeout=timeout_s), timeout_s + 1, "publisher")

    async def _greetings_done(self) -> None:
        while self._greetings_in_hand:
            await asyncio.sleep(0.02)  # poll interval; the caller bounds the wait

    @property
    def ready(self) -> bool:
        """True once every service's consumer has partitions assigned."""
        if not self._ready and self.subscribers:
            self._ready = all(s.assignment for s in self.subscribers.values())
        return self._ready

    def uptime_s(self) -> float:
        return self.clock() - self._started_at

    def status(self) -> DemoStatus:
        orders = self.subscribers.get(ORDERS)
        orders_lag = 0
        if orders is not None:
            orders_lag = sum(lag for (topic, _), lag in
                             orders.metrics.snapshot().consumer_lag.items() if topic == ORDERS)
        payments = self.subscribers.get(PAYMENTS)
        retries = dead = 0
        if payments is not None:
            snap = payments.metrics.snapshot()
            retries, dead = snap.total("retries"), snap.total("dead_lettered")
        failures = tuple(f"{s.group_id}: {s.failure}" for s in self.subscribers.values()
                         if s.failure is not None)
        phase, _ = slow_consumer_phase(self.uptime_s(), self.rates.orders / BUSY_PARTITIONS)
        return DemoStatus(
            uptime_s=self.uptime_s(), published=self.metrics.snapshot().total("published"),
            counters=dataclasses.replace(self.counters,
                                         handler_errors=dict(self.counters.handler_errors)),
            orders_phase=phase, orders_lag=orders_lag, payment_retries=retries,
            dead_lettered=dead, in_flight=len(self._tasks), ready=self.ready,
            failures=failures,
        )

    def _on_handler_error(self, exc: BaseException, record: ConsumerRecord | None) -> None:
        topic = record.topic if record is not None else "?"
        errors = self.counters.handler_errors
        errors[topic] = errors.get(topic, 0) + 1
        log.debug("handler error on %s: %s", topic, exc)

    # ---- handlers -----------------------------------------------------------------------------

    async def _lookup(self, ctx: HandlerContext) -> None:
        if ctx.envelope.kind is not MessageKind.REQUEST:
            return
        user = _user_of(ctx.envelope)
        name = NAMES[zlib.crc32(user.encode()) % len(NAMES)]
        await ctx.reply({"name": name, "user_id": user})

    async def _validate(self, ctx: HandlerContext) -> None:
        if ctx.envelope.kind is not MessageKind.REQUEST:
            return
        user = _user_of(ctx.envelope)
        if is_suspended(user):
            await ctx.reply_error(f"user {user} is suspended")
        else:
            await ctx.reply({"user_id": user, "valid": True})

    async def _greet(self, ctx: HandlerContext) -> None:
        """WIRE.md's conversation: lookup + validate (replies on this topic), event, reply."""
        if ctx.envelope.kind is not MessageKind.REQUEST or self._stopping:
            return  # a child's reply after its wait ended, or the demo is stopping: skip it
        self._greetings_in_hand += 1
        try:
            await self._converse_with_children(ctx)
        finally:
            self._greetings_in_hand -= 1

    async def _converse_with_children(self, ctx: HandlerContext) -> None:
        """Ask lookup and validate at once, then send the event and the final reply."""
        user = _user_of(ctx.envelope)
        lookup, validate = await asyncio.gather(
            ctx.dispatch(LOOKUP, {"user_id": user}, expect_reply=True, timeout=CHILD_TIMEOUT_S),
            ctx.dispatch(VALIDATE, {"user_id": user}, expect_reply=True,
                         timeout=CHILD_TIMEOUT_S),
            return_exceptions=True,
        )
        for outcome in (validate, lookup):
            if isinstance(outcome, RemoteError):
                await ctx.reply_error(outcome.reply.error_message or "validation failed")
                return
            if isinstance(outcome, ReplyTimeout):
                await ctx.reply_error(f"cannot greet {user}: {outcome}")
                return
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(lookup, Envelope)
        found = lookup.payload.get("name") if isinstance(lookup.payload, dict) else None
        name = found if isinstance(found, str) else user
        await ctx.dispatch(AUDIT, {"user_id": user})
        await ctx.reply({"message": f"Hello, {name}!"})

    async def _audit(self, ctx: HandlerContext) -> None:
        return None  # the event is consumed; its group's lag and rate are what the demo shows

    async def _fulfil_order(self, ctx: HandlerContext) -> None:
        if self._stopping:
            return
        _, delay = slow_consumer_phase(self.uptime_s(), self.rates.orders / BUSY_PARTITIONS)
        await asyncio.sleep(delay)  # the slow work this consumer does per order

    async def _pay(self, ctx: HandlerContext) -> None:
        envelope = ctx.envelope
        if envelope.kind is not MessageKind.REQUEST:
            return
        outcome = payment_outcome(envelope.id)
        if outcome == "declined":
            await ctx.reply_error("card declined")
        elif outcome == "poison":
            raise PaymentFailed("payment gateway rejected the request: malformed amount")
        elif outcome == "transient" and ctx.attempt == 1:
            raise PaymentFailed("payment gateway timed out")
        else:
            await ctx.reply({"status": "captured", "attempt": ctx.attempt})

    # ---- the client ---------------------------------------------------------------------------

    async def _generate(self) -> None:
        """Send each flow at its rate, in ticks of TICK_S seconds (fractions carried over),
        once every service has joined its group (or after WARMUP_S at the latest): requests
        sent earlier would wait in the topics and time out at the client."""
        loop = asyncio.get_running_loop()
        warmup_until = loop.time() + WARMUP_S
        while not self.ready and loop.time() < warmup_until:
            await asyncio.sleep(TICK_S)  # poll interval of the bounded warm-up wait
        due = {"greetings": 0.0, "orders": 0.0, "payments": 0.0}
        next_tick = loop.time()
        while True:
            for flow in due:
                due[flow] += getattr(self.rates, flow) * TICK_S
            while due["greetings"] >= 1:
                due["greetings"] -= 1
                self._send_greeting()
            while due["payments"] >= 1:
                due["payments"] -= 1
                self._send_payment()
            orders = []
            while due["orders"] >= 1:
                due["orders"] -= 1
                orders.append(self._order())
            if orders:
                self._spawn(self._publish_orders(orders))
            next_tick += TICK_S
            await asyncio.sleep(max(0.0, next_tick - loop.time()))  # the generator's pace

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> bool:
        if len(self._tasks) >= MAX_IN_FLIGHT:
            coro.close()
            self.counters.skipped_in_flight += 1
            return False
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def _send_greeting(self) -> None:
        assert self.requester is not None
        request = self.requester.build(GREETING, {"user_id": self.rng.choice(USERS)})
        if self.rng.random() < HOT_SHARE:  # a long-lived session: its root id is reused
            request = dataclasses.replace(request, root_id=self.rng.choice(self.hot_roots))
        if self._spawn(self._converse(request, "greetings")):
            self.counters.greetings_sent += 1

    def _send_payment(self) -> None:
        assert self.requester is not None
        amount = round(self.rng.uniform(5, 500), 2)
        request = self.requester.build(
            PAYMENTS, {"amount": amount, "currency": "EUR", "user_id": self.rng.choice(USERS)})
        if self._spawn(self._converse(request, "payments")):
            self.counters.payments_sent += 1

    def _order(self) -> Envelope:
        return Envelope.new_root(CLIENT, ORDERS, {
            "items": self.rng.randint(1, 5), "order_id": f"o-{self.rng.getrandbits(40):x}",
            "user_id": self.rng.choice(USERS),
        })

    async def _publish_orders(self, orders: list[Envelope]) -> None:
        try:
            await self.publisher.publish_many(orders)
            self.counters.orders_sent += len(orders)
        except NexusError as exc:
            self.counters.send_failures += 1
            log.warning("orders not published: %s", exc)

    async def _converse(self, request: Envelope, flow: Literal["greetings", "payments"]) -> None:
        assert self.requester is not None
        c = self.counters
        try:
            await self.requester.send_and_wait(request, CLIENT_TIMEOUT_S)
        except RemoteError:
            if flow == "greetings":
                c.greetings_error += 1
            else:
                c.payments_declined += 1
        except ReplyTimeout:
            if flow == "greetings":
                c.greetings_timeout += 1
            else:
                c.payments_timeout += 1
        except NexusError as exc:
            c.send_failures += 1
            log.warning("request to %s not sent: %s", request.destination_topic, exc)
        else:
            if flow == "greetings":
                c.greetings_ok += 1
            else:
                c.payments_ok += 1


class PaymentFailed(NexusError):
    """The flaky payments handler failed (retried, then dead-lettered)."""


def _user_of(envelope: Envelope) -> str:
    payload = envelope.payload_json()
    user = payload.get("user_id") if isinstance(payload, dict) else None
    return user if isinstance(user, str) else "u-0"


async def _bounded(coro: Coroutine[Any, Any, Any], timeout_s: float, what: str) -> None:
    """Await a stop step; log (never raise) when it fails or takes too long."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(coro, timeout_s)
        log.info("stopped %s in %.2f s", what, time.monotonic() - started)
    except TimeoutError:
        log.warning("stopping %s took longer than %.0f s: left behind", what, timeout_s)
    except Exception as exc:
        log.warning("stopping %s failed: %s", what, exc)

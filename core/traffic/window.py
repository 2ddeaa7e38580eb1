"""Nexus error rates over a rolling window: pure, bounded, clock injected.

`TrafficWindow` is what `core.traffic.watcher.TrafficWatcher` feeds with the records it tails; it
never reads a clock (every method takes ``now``, in seconds) and never talks to Kafka, so
every rule below is pinned by tests without a broker.

The rules:

* **Window.** Counts live in per-second buckets, a ring of ``window_s`` slots per topic. A
  reading at ``now`` sums the buckets of the last ``window_s`` whole seconds, the current
  (partial) one included, i.e. the interval ``[floor(now) - window_s + 1, now]``; rates
  divide by that interval's length, shortened to ``now - origin`` while the topic has been
  watched for less than the window (``origin``: when the topic was positioned), so a
  watcher started 3 s ago reports counts / 3 s, not counts / 60 s.
* **What a message is** follows WIRE.md (`Envelope.kind`): request, reply (error replies
  included: ``replies`` counts every reply), error reply, event; a record whose value is not
  an envelope is *undecodable*. ``messages`` counts every record. Records are counted on
  the topic they were read from. ``error_pct = 100 * error_replies / replies`` on that
  topic (None without replies).
* **Unanswered.** A request seen at ``t`` is pending until a reply with
  ``request_id == id`` is seen on *any* topic the watcher reads. If none came by
  ``t + unanswered_after_s`` (seen time, our clock: producers' clocks do not matter) it
  counts as *unanswered* on the request's topic, in the bucket of that instant. A reply
  arriving later still counts as a reply (and error reply), but neither undoes the
  unanswered count nor gives a latency. ``pending`` is the number of requests of a topic
  still waiting, younger than the timeout.
* **Latency** of one hop is ``reply.created_at - request.created_at`` (both set by the
  senders, nanoseconds), and is measured **only when the request itself was seen** (it is
  still pending when its reply arrives); it is attributed, like ``answered``, to the
  *request's* topic: the topic of the handler that answered. p50/p99 are nearest-rank
  percentiles over a fixed histogram of log-spaced buckets, 16 per doubling from 0.01 ms
  to 10^7 ms (~2.8 h), reported at each bucket's geometric middle: within ±2.2 % of the
  true value. Negative latencies (clock skew between hosts) fall in the lowest bucket (0).
* **Dead letters** are counted from end-offset deltas of ``*.dlq`` partitions (the first
  sample of a partition is its baseline; an offset going down resets the baseline). They
  are the ``messages``/``dead_letters`` of the ``.dlq`` row, and also the
  ``dlq_inflow_per_s`` of the row of the topic they came from, when it is tracked.

* **Totals** (`TrafficWindow.totals`): the same counts since a topic was first tracked,
  never reset (what Prometheus counters need: the exporter serves them), with the latency
  histogram over the same buckets and the exact sum of the latencies. Requests counted as
  unanswered at an instant already out of the window still count in the totals.

Memory is bounded whatever the traffic: per topic, ``window_s`` second buckets (a few
integers each, plus a sparse latency histogram of at most `LATENCY_BUCKETS` entries); the
pending-request table holds at most ``max_pending`` entries (the oldest is evicted when it
is full, and counted as unanswered at once, and in ``evicted``) — about 280 bytes each with
Nexus-sized ids, so ~28 MB at the default 100,000; recent error replies and dead letters
are bounded deques; error texts are cut to `ERROR_TEXT_MAX` characters.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping
from enum import StrEnum

from msgspec import Struct
from msgspec.structs import replace

from core.errors import ConfigError
from core.wire.topic_names import DEAD_LETTER_SUFFIX

__all__ = [
    "DEFAULT_MAX_PENDING",
    "DEFAULT_UNANSWERED_AFTER_S",
    "DEFAULT_WINDOW_S",
    "ERROR_TEXT_MAX",
    "LATENCY_BUCKETS",
    "LATENCY_MAX_MS",
    "LATENCY_MIN_MS",
    "MAX_WINDOW_S",
    "DeadLetter",
    "DeadLetterOffsets",
    "ErrorReply",
    "TopicRole",
    "TopicTotals",
    "TopicTraffic",
    "TrafficWindow",
    "latency_bucket",
    "latency_bucket_value",
    "latency_percentile",
]

DEFAULT_WINDOW_S = 60
MAX_WINDOW_S = 3600
DEFAULT_UNANSWERED_AFTER_S = 30.0
"""Go callers wait 30 s for one response by default (WIRE.md)."""
DEFAULT_MAX_PENDING = 100_000
DEFAULT_RECENT = 50
ERROR_TEXT_MAX = 300

LATENCY_MIN_MS = 0.01
LATENCY_MAX_MS = 1e7
BUCKETS_PER_DOUBLING = 16
_OCTAVES = math.ceil(math.log2(LATENCY_MAX_MS / LATENCY_MIN_MS))
LATENCY_BUCKETS = _OCTAVES * BUCKETS_PER_DOUBLING + 2
"""Bucket 0: below LATENCY_MIN_MS (and negative); last bucket: LATENCY_MAX_MS and above."""

# Counter slots of one second bucket.
_MESSAGES, _REQUESTS, _REPLIES, _ERROR_REPLIES, _EVENTS = range(5)
_UNDECODABLE, _UNANSWERED, _ANSWERED, _ANSWERED_ERRORS, _DEAD_LETTERS = range(5, 10)
_N_COUNTERS = 10
_RATE_FIELDS = ("messages_per_s", "requests_per_s", "replies_per_s", "error_replies_per_s",
                "events_per_s", "undecodable_per_s")


# ---------------------------------------------------------------------------------------------
# Latency histogram (fixed log-spaced buckets).
# ---------------------------------------------------------------------------------------------


def latency_bucket(ms: float) -> int:
    """The histogram bucket of a latency in milliseconds."""
    if not ms >= LATENCY_MIN_MS:  # also NaN and negative (clock skew)
        return 0
    index = int(math.log2(ms / LATENCY_MIN_MS) * BUCKETS_PER_DOUBLING) + 1
    return min(index, LATENCY_BUCKETS - 1)


def latency_bucket_value(index: int) -> float:
    """The value a bucket reports: its geometric middle (0 and LATENCY_MAX_MS at the ends)."""
    if index <= 0:
        return 0.0
    if index >= LATENCY_BUCKETS - 1:
        return LATENCY_MAX_MS
    return LATENCY_MIN_MS * 2 ** ((index - 0.5) / BUCKETS_PER_DOUBLING)


def latency_percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The nearest-rank q-quantile (0 < q <= 1) of a bucket -> count histogram, or None."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return latency_bucket_value(index)
    return latency_bucket_value(max(histogram))  # pragma: no cover - rank <= total


# ---------------------------------------------------------------------------------------------
# What the window reports.
# ---------------------------------------------------------------------------------------------


class TopicRole(StrEnum):
    """Why a topic is tracked."""

    WATCHED = "watched"
    """Asked for (by the caller)."""
    REPLY = "reply"
    """Followed automatically: requests seen name it as their reply topic."""
    DEAD_LETTER = "dead_letter"
    """A `.dlq` topic: counted from end offsets, never consumed."""


class ErrorReply(Struct, frozen=True):
    """One error reply seen, for the UI's list of recent failures."""

    created_at_ns: int
    """The error reply's own created_at (Unix ns, set by the replying service)."""
    topic: str
    """Where the error reply was read (the caller's reply topic)."""
    request_id: str
    request_topic: str | None
    """The topic of the failed request, when the watcher saw it."""
    error: str


class DeadLetter(Struct, frozen=True):
    """One dead-lettered record read from the tail of a `.dlq` topic."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    error: str
    attempts: int | None
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    failed_at: str | None
    envelope_id: str | None


class TopicTraffic(Struct, frozen=True):
    """Traffic of one topic (or of all, topic "*") over the window, as of one reading."""

    topic: str
    role: str
    window_s: float
    """Seconds the counts cover (the window, or less while the topic is new)."""
    messages: int
    requests: int
    replies: int
    error_replies: int
    events: int
    undecodable: int
    unanswered: int
    answered: int
    """Requests sent to this topic that were answered (their request seen)."""
    answered_with_error: int
    pending: int
    dead_letters: int
    messages_per_s: float
    requests_per_s: float
    replies_per_s: float
    error_replies_per_s: float
    events_per_s: float
    undecodable_per_s: float
    error_pct: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_samples: int
    dlq_inflow_per_s: float


class TopicTotals(Struct, frozen=True):
    """Counts of one topic since it was first tracked: they never go down (counters)."""

    topic: str
    role: str
    messages: int
    requests: int
    replies: int
    error_replies: int
    events: int
    undecodable: int
    unanswered: int
    answered: int
    answered_with_error: int
    dead_letters: int
    latency: dict[int, int]
    """Latency bucket (`latency_bucket`) -> requests of this topic answered in it."""
    latency_sum_ms: float
    """The exact sum of those latencies, in milliseconds."""


# ---------------------------------------------------------------------------------------------
# Per-topic ring of second buckets.
# ---------------------------------------------------------------------------------------------


class _Counts(Struct):
    """Summed counters and latency histogram of a span of seconds."""

    counters: list[int]
    latency: Counter[int]
    span_s: float


class _TopicRing:
    """`window_s` second buckets of one topic, in flat lists (no object per bucket)."""

    __slots__ = ("_counts", "_latency", "_seconds", "latency_sum_ms", "latency_totals",
                 "origin", "role", "totals", "window_s")

    def __init__(self, window_s: int, role: TopicRole, origin: float) -> None:
        self.window_s = window_s
        self.role = role
        self.origin = origin
        self._seconds = [-1] * window_s
        self._counts = [0] * (window_s * _N_COUNTERS)
        self._latency: list[dict[int, int] | None] = [None] * window_s
        self.totals = [0] * _N_COUNTERS  # since tracked, whatever the window
        self.latency_totals: dict[int, int] = {}
        self.latency_sum_ms = 0.0

    def _slot(self, second: int) -> int | None:
        """The slot holding `second` (cleared if it held an older one); None if too old."""
        slot = second % self.window_s
        held = self._seconds[slot]
        if held == second:
            return slot
        if held > second:  # a newer second took the slot: `second` is out of the window
            return None
        self._seconds[slot] = second
        base = slot * _N_COUNTERS
        self._counts[base : base + _N_COUNTERS] = [0] * _N_COUNTERS
        self._latency[slot] = None
        return slot

    def add(self, now: float, counter: int, n: int = 1) -> None:
        self.totals[counter] += n
        slot = self._slot(math.floor(now))
        if slot is not None:
            self._counts[slot * _N_COUNTERS + counter] += n

    def add_latency(self, now: float, ms: float) -> None:
        bucket = latency_bucket(ms)
        self.latency_totals[bucket] = self.latency_totals.get(bucket, 0) + 1
        self.latency_sum_ms += ms
        slot = self._slot(math.floor(now))
        if slot is None:
            return
        histogram = self._latency[slot]
        if histogram is None:
            histogram = self._latency[slot] = {}
        histogram[bucket] = histogram.get(bucket, 0) + 1

    def read(self, now: float) -> _Counts:
        """Sum the buckets of `[floor(now) - window_s + 1, now]` (and after the origin)."""
        current = math.floor(now)
        oldest = current - self.window_s + 1
        counters = [0] * _N_COUNTERS
        latency: Counter[int] = Counter()
        for slot, second in enumerate(self._seconds):
            if oldest <= second <= current:
                base = slot * _N_COUNTERS
                for i in range(_N_COUNTERS):
                    counters[i] += self._counts[base + i]
                histogram = self._latency[slot]
                if histogram:
                    latency.update(histogram)
        span = max(0.0, min(now - oldest, now - self.origin))
        return _Counts(counters, latency, span)

    def latency_entries(self) -> int:
        return sum(len(h) for h in self._latency if h)


class _Pending(Struct):
    topic: str
    seen_at: float
    created_at_ns: int


class _EarlyReply(Struct):
    """A reply read before its request: requests and replies are on different topics, read
    in whatever order their partitions' fetches come back."""

    seen_at: float
    created_at_ns: int
    failed: bool


# ---------------------------------------------------------------------------------------------
# The window.
# ---------------------------------------------------------------------------------------------


def _check_window(window_s: float) -> int:
    if not isinstance(window_s, int | float) or not 1 <= window_s <= MAX_WINDOW_S:
        raise ConfigError(f"window must be 1 to {MAX_WINDOW_S} seconds, got {window_s!r}")
    return math.ceil(window_s)


def _rate(count: int, span_s: float) -> float:
    return count / span_s if span_s > 0 else 0.0


def _cut(text: str) -> str:
    return text if len(text) <= ERROR_TEXT_MAX else text[: ERROR_TEXT_MAX - 1] + "…"


class TrafficWindow:
    """Rolling per-topic traffic counts, pending requests and latency; bounded; no I/O."""

    def __init__(
        self,
        window_s: float = DEFAULT_WINDOW_S,
        unanswered_after_s: float = DEFAULT_UNANSWERED_AFTER_S,
        max_pending: int = DEFAULT_MAX_PENDING,
        recent: int = DEFAULT_RECENT,
    ) -> None:
        self.window_s = _check_window(window_s)
        if not unanswered_after_s > 0:
            raise ConfigError(f"unanswered-after must be > 0 s, got {unanswered_after_s!r}")
        if max_pending < 1 or recent < 1:
            raise ConfigError("max_pending and recent must be at least 1")
        self.unanswered_after_s = float(unanswered_after_s)
        self.max_pending = max_pending
        self.evicted = 0
        """Requests pushed out of the full pending table (counted as unanswered too)."""
        self._topics: dict[str, _TopicRing] = {}
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._pending_by_topic: Counter[str] = Counter()
        #: replies whose request was not read yet, by request id (bounded like _pending)
        self._early: OrderedDict[str, _EarlyReply] = OrderedDict()
        self._errors: deque[ErrorReply] = deque(maxlen=recent)
        self._dead_letters: deque[DeadLetter] = deque(maxlen=recent)

    # ---- topics -------------------------------------------------------------------------------

    def add_topic(self, topic: str, role: TopicRole, now: float) -> None:
        """Track `topic` from `now` on (no-op if tracked; the role is updated)."""
        ring = self._topics.get(topic)
        if ring is None:
            self._topics[topic] = _TopicRing(self.window_s, role, now)
        else:
            ring.role = role

    def set_origin(self, topic: str, now: float) -> None:
        """Say when the topic's counts start (when it was positioned): rates use it."""
        ring = self._topics.get(topic)
        if ring is not None:
            ring.origin = now

    def remove_topic(self, topic: str) -> None:
        """Stop tracking `topic`: its row disappears (its pending requests stay pending)."""
        self._topics.pop(topic, None)

    def role(self, topic: str) -> TopicRole | None:
        ring = self._topics.get(topic)
        return ring.role if ring else None

    @property
    def topics(self) -> list[str]:
        return sorted(self._topics)

    # ---- observations -------------------------------------------------------------------------

    def _count(self, topic: str, now: float, counter: int, n: int = 1) -> None:
        ring = self._topics.get(topic)
        if ring is not None:
            ring.add(now, counter, n)

    def record_undecodable(self, topic: str, now: float) -> None:
        """A record whose value is not a Nexus envelope."""
        self._count(topic, now, _MESSAGES)
        self._count(topic, now, _UNDECODABLE)

    def record_event(self, topic: str, now: float) -> None:
        """A fire-and-forget envelope (no reply_to_topics, no request_id)."""
        self._count(topic, now, _MESSAGES)
        self._count(topic, now, _EVENTS)

    def record_request(self, topic: str, request_id: str, created_at_ns: int, now: float) -> None:
        """A request (reply_to_topics set): pending until answered or timed out."""
        self._count(topic, now, _MESSAGES)
        self._count(topic, now, _REQUESTS)
        if not request_id or request_id in self._pending:
            return
        early = self._early.pop(request_id, None)
        if early is not None:  # its reply was read first: answered already
            self._answered(_Pending(topic, now, created_at_ns), early.created_at_ns, now,
                           early.failed)
            if early.failed:  # its error reply is listed without the request's topic
                self._name_request_topic(request_id, topic)
            return
        if len(self._pending) >= self.max_pending:
            self._evict_oldest(now)
        self._pending[request_id] = _Pending(topic, now, created_at_ns)
        self._pending_by_topic[topic] += 1

    def record_reply(
        self, topic: str, request_id: str, created_at_ns: int, now: float,
        error: str | None = None,
    ) -> None:
        """A reply (an error reply when `error` is not None), matched to its request."""
        self._count(topic, now, _MESSAGES)
        self._count(topic, now, _REPLIES)
        if error is not None:
            self._count(topic, now, _ERROR_REPLIES)
        request = self._pop_pending(request_id)
        if request is not None:
            self._answered(request, created_at_ns, now, error is not None)
        elif request_id:  # its request may not be read yet: matched when it is
            if len(self._early) >= self.max_pending:
                self._early.popitem(last=False)
            self._early[request_id] = _EarlyReply(now, created_at_ns, error is not None)
        if error is not None:
            self._errors.append(ErrorReply(
                created_at_ns, topic, request_id, request.topic if request else None,
                _cut(error)))

    def _name_request_topic(self, request_id: str, topic: str) -> None:
        """Fill in the request topic of a recent error reply read before its request."""
        for i, error in enumerate(self._errors):
            if error.request_id == request_id and error.request_topic is None:
                self._errors[i] = replace(error, request_topic=topic)

    def _answered(self, request: _Pending, reply_created_ns: int, now: float,
                  failed: bool) -> None:
        ring = self._topics.get(request.topic)
        if ring is None:
            return
        ring.add(now, _ANSWERED)
        if failed:
            ring.add(now, _ANSWERED_ERRORS)
        ring.add_latency(now, (reply_created_ns - request.created_at_ns) / 1e6)

    def record_dead_letters(self, dlq_topic: str, count: int, now: float) -> None:
        """`count` records appended to a dead-letter topic (from its end offsets)."""
        if count > 0:
            self._count(dlq_topic, now, _MESSAGES, count)
            self._count(dlq_topic, now, _DEAD_LETTERS, count)

    def add_dead_letter(self, record: DeadLetter) -> None:
        """Remember one dead-lettered record read from a `.dlq` tail (bounded)."""
        self._dead_letters.append(record)

    # ---- pending requests ---------------------------------------------------------------------

    def _pop_pending(self, request_id: str) -> _Pending | None:
        request = self._pending.pop(request_id, None) if request_id else None
        if request is not None:
            self._release(request.topic)
        return request

    def _release(self, topic: str) -> None:
        left = self._pending_by_topic[topic] - 1
        if left > 0:
            self._pending_by_topic[topic] = left
        else:
            del self._pending_by_topic[topic]

    def _evict_oldest(self, now: float) -> None:
        _, request = self._pending.popitem(last=False)
        self._release(request.topic)
        self.evicted += 1
        self._count(request.topic, now, _UNANSWERED)

    def expire(self, now: float) -> int:
        """Count requests older than the timeout as unanswered; returns how many expired."""
        expired = 0
        deadline = now - self.unanswered_after_s
        early = self._early  # a reply whose request never came (sent before we watched)
        while early and next(iter(early.values())).seen_at <= deadline:
            early.popitem(last=False)
        pending = self._pending
        while pending:
            request = next(iter(pending.values()))
            if request.seen_at > deadline:
                break
            pending.popitem(last=False)
            self._release(request.topic)
            self._count(request.topic, request.seen_at + self.unanswered_after_s, _UNANSWERED)
            expired += 1
        return expired

    # ---- readings -----------------------------------------------------------------------------

    def stats(self, now: float) -> dict[str, TopicTraffic]:
        """Every tracked topic's traffic over the window ending at `now` (expires first)."""
        self.expire(now)
        return self._rows(self._reads(now))

    def total(self, now: float) -> TopicTraffic:
        """All tracked topics together (topic "*", role "total"), for the overview.

        Counts are summed; rates are the sums of the topics' rates; error % and latency are
        over all replies and samples; dead letters are counted once (on the `.dlq` rows).
        """
        self.expire(now)
        reads = self._reads(now)
        rows = self._rows(reads)
        counters = [0] * _N_COUNTERS
        latency: Counter[int] = Counter()
        for read in reads.values():
            counters = [a + b for a, b in zip(counters, read.counters, strict=True)]
            latency.update(read.latency)
        span = max((read.span_s for read in reads.values()), default=0.0)
        dlq_rate = sum(r.dlq_inflow_per_s for r in rows.values()
                       if r.role == TopicRole.DEAD_LETTER.value)
        row = self._row("*", "total", _Counts(counters, latency, span), len(self._pending),
                        dlq_rate)
        return replace(row, **{name: sum(getattr(r, name) for r in rows.values())
                               for name in _RATE_FIELDS})

    def totals(self, now: float) -> dict[str, TopicTotals]:
        """Every tracked topic's counts since it was first tracked (expires first, so the
        requests timed out by `now` are counted as unanswered)."""
        self.expire(now)
        out = {}
        for topic in sorted(self._topics):
            ring = self._topics[topic]
            c = ring.totals
            out[topic] = TopicTotals(
                topic=topic, role=ring.role.value, messages=c[_MESSAGES], requests=c[_REQUESTS],
                replies=c[_REPLIES], error_replies=c[_ERROR_REPLIES], events=c[_EVENTS],
                undecodable=c[_UNDECODABLE], unanswered=c[_UNANSWERED], answered=c[_ANSWERED],
                answered_with_error=c[_ANSWERED_ERRORS], dead_letters=c[_DEAD_LETTERS],
                latency=dict(ring.latency_totals), latency_sum_ms=ring.latency_sum_ms)
        return out

    def _reads(self, now: float) -> dict[str, _Counts]:
        return {topic: self._topics[topic].read(now) for topic in sorted(self._topics)}

    def _rows(self, reads: Mapping[str, _Counts]) -> dict[str, TopicTraffic]:
        return {
            topic: self._row(topic, self._topics[topic].role.value, read,
                             self._pending_by_topic.get(topic, 0), self._dlq_rate(topic, reads))
            for topic, read in reads.items()
        }

    def _dlq_rate(self, topic: str, reads: Mapping[str, _Counts]) -> float:
        """Dead-letter inflow of a row: its own for a `.dlq` topic, else its `.dlq` topic's."""
        if self._topics[topic].role is TopicRole.DEAD_LETTER:
            own = reads[topic]
            return _rate(own.counters[_DEAD_LETTERS], own.span_s)
        dlq_topic = topic + DEAD_LETTER_SUFFIX
        dlq = reads.get(dlq_topic)
        if dlq is None or self._topics[dlq_topic].role is not TopicRole.DEAD_LETTER:
            return 0.0
        return _rate(dlq.counters[_DEAD_LETTERS], dlq.span_s)

    @staticmethod
    def _row(topic: str, role: str, read: _Counts, pending: int, dlq_rate: float) -> TopicTraffic:
        c, span = read.counters, read.span_s
        replies, errors = c[_REPLIES], c[_ERROR_REPLIES]
        return TopicTraffic(
            topic=topic, role=role, window_s=span,
            messages=c[_MESSAGES], requests=c[_REQUESTS], replies=replies,
            error_replies=errors, events=c[_EVENTS], undecodable=c[_UNDECODABLE],
            unanswered=c[_UNANSWERED], answered=c[_ANSWERED],
            answered_with_error=c[_ANSWERED_ERRORS], pending=pending,
            dead_letters=c[_DEAD_LETTERS],
            messages_per_s=_rate(c[_MESSAGES], span), requests_per_s=_rate(c[_REQUESTS], span),
            replies_per_s=_rate(replies, span), error_replies_per_s=_rate(errors, span),
            events_per_s=_rate(c[_EVENTS], span),
            undecodable_per_s=_rate(c[_UNDECODABLE], span),
            error_pct=100.0 * errors / replies if replies else None,
            latency_p50_ms=latency_percentile(read.latency, 0.50),
            latency_p99_ms=latency_percentile(read.latency, 0.99),
            latency_samples=sum(read.latency.values()),
            dlq_inflow_per_s=dlq_rate,
        )

    def recent_errors(self) -> list[ErrorReply]:
        """The last error replies seen, oldest first (at most `recent`)."""
        return list(self._errors)

    def recent_dead_letters(self) -> list[DeadLetter]:
        """The last dead-lettered records read, oldest first (at most `recent`)."""
        return list(self._dead_letters)

    def pending(self, topic: str | None = None) -> int:
        """Requests waiting for a reply (of one topic, or all)."""
        return len(self._pending) if topic is None else self._pending_by_topic.get(topic, 0)

    def footprint(self) -> dict[str, int]:
        """How much the window holds (what its memory bound is made of)."""
        return {
            "topics": len(self._topics),
            "second_slots": sum(r.window_s for r in self._topics.values()),
            "latency_entries": sum(r.latency_entries() for r in self._topics.values()),
            "pending": len(self._pending),
            "pending_topics": len(self._pending_by_topic),
            "recent_errors": len(self._errors),
            "recent_dead_letters": len(self._dead_letters),
        }


# ---------------------------------------------------------------------------------------------
# Dead-letter end offsets -> appended records.
# ---------------------------------------------------------------------------------------------


class DeadLetterOffsets:
    """End offsets of dead-letter partitions, sampled over time, turned into deltas.

    The first sample of a partition is its baseline (nothing counted); an end offset that
    goes down (topic recreated, truncated) resets the baseline.
    """

    __slots__ = ("_ends",)

    def __init__(self) -> None:
        self._ends: dict[tuple[str, int], int] = {}

    def update(
        self, ends: Mapping[tuple[str, int], int]
    ) -> dict[tuple[str, int], tuple[int, int]]:
        """Take a sample; return {(topic, partition): (previous end, end)} where it grew."""
        grown: dict[tuple[str, int], tuple[int, int]] = {}
        for tp, end in ends.items():
            previous = self._ends.get(tp)
            self._ends[tp] = end
            if previous is not None and end > previous:
                grown[tp] = (previous, end)
        return grown

    def forget(self, topics: Iterable[str]) -> None:
        """Drop the baselines of these topics (they are no longer sampled)."""
        gone = set(topics)
        for tp in [tp for tp in self._ends if tp[0] in gone]:
            del self._ends[tp]

    def known(self, topic: str) -> bool:
        """True once the topic has a baseline sample."""
        return any(t == topic for t, _ in self._ends)

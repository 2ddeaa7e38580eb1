"""The pure traffic window: rates, error %, unanswered, latency, dead letters, memory bounds."""

from __future__ import annotations

import math
import time

import pytest

from core.errors import ConfigError
from core.traffic.window import (
    ERROR_TEXT_MAX,
    LATENCY_BUCKETS,
    LATENCY_MAX_MS,
    LATENCY_MIN_MS,
    DeadLetter,
    DeadLetterOffsets,
    TopicRole,
    TrafficWindow,
    latency_bucket,
    latency_bucket_value,
    latency_percentile,
)

T0 = 1_000.0
NS = 1_000_000  # ns per ms
BUCKET_PRECISION = 2 ** (1 / 32) - 1  # half a bucket (16 per doubling), relative


def window(**kw: float) -> TrafficWindow:
    w = TrafficWindow(**kw)  # type: ignore[arg-type]
    for topic in ("a.req.v1", "a.res.v1"):
        w.add_topic(topic, TopicRole.WATCHED, T0)
    return w


# ---- rates and the window ---------------------------------------------------------------------


def test_rates_divide_by_time_watched_while_younger_than_the_window():
    w = window(window_s=60)
    for i in range(30):
        w.record_event("a.req.v1", T0 + i * 0.1)
    row = w.stats(T0 + 5)["a.req.v1"]
    assert row.window_s == pytest.approx(5)
    assert row.events == row.messages == 30
    assert row.events_per_s == pytest.approx(6.0)
    assert row.messages_per_s == pytest.approx(6.0)


def test_old_seconds_leave_the_window_and_the_span_is_the_window():
    w = window(window_s=10)
    w.record_event("a.req.v1", T0 + 0.5)  # second 1000
    for i in range(10):
        w.record_event("a.req.v1", T0 + 20 + i)  # seconds 1020..1029
    row = w.stats(T0 + 29.5)["a.req.v1"]
    assert row.events == 10  # second 1000 is long gone
    assert row.window_s == pytest.approx(9.5)  # [1020, 1029.5]
    assert row.events_per_s == pytest.approx(10 / 9.5)
    assert w.stats(T0 + 30.0)["a.req.v1"].events == 9  # second 1020 just left


def test_origin_set_when_positioned_counts_from_there():
    w = window()
    w.set_origin("a.req.v1", T0 + 2)
    w.record_event("a.req.v1", T0 + 2.5)
    assert w.stats(T0 + 4)["a.req.v1"].events_per_s == pytest.approx(0.5)


def test_idle_topic_has_a_row_of_zeros_and_removed_topic_has_none():
    w = window()
    row = w.stats(T0 + 3)["a.res.v1"]
    assert (row.messages, row.messages_per_s, row.error_pct, row.latency_p50_ms) == (
        0, 0.0, None, None)
    w.remove_topic("a.res.v1")
    assert "a.res.v1" not in w.stats(T0 + 3)
    w.record_event("a.res.v1", T0 + 3)  # records of an untracked topic are ignored
    assert "a.res.v1" not in w.stats(T0 + 3)


@pytest.mark.parametrize("bad", [0, 0.5, -1, 3601, float("nan")])
def test_window_length_is_checked(bad):
    with pytest.raises(ConfigError):
        TrafficWindow(window_s=bad)


def test_unanswered_after_is_checked():
    with pytest.raises(ConfigError):
        TrafficWindow(unanswered_after_s=0)


# ---- kinds, error % ---------------------------------------------------------------------------


def test_error_pct_is_error_replies_over_all_replies_on_the_reply_topic():
    w = window()
    for i in range(20):
        w.record_reply("a.res.v1", f"r{i}", 0, T0 + 1, error="boom" if i < 5 else None)
    w.record_undecodable("a.res.v1", T0 + 1)
    row = w.stats(T0 + 2)["a.res.v1"]
    assert (row.replies, row.error_replies, row.undecodable, row.messages) == (20, 5, 1, 21)
    assert row.error_pct == pytest.approx(25.0)
    assert row.replies_per_s == pytest.approx(10.0)
    assert row.error_replies_per_s == pytest.approx(2.5)
    assert row.undecodable_per_s == pytest.approx(0.5)


def test_an_error_reply_with_empty_text_still_counts_as_an_error():
    w = window()
    w.record_reply("a.res.v1", "r1", 0, T0, error="")
    assert w.stats(T0 + 1)["a.res.v1"].error_replies == 1


# ---- unanswered -------------------------------------------------------------------------------


def test_requests_unanswered_after_the_timeout_count_on_the_request_topic():
    w = window(unanswered_after_s=30)
    for i in range(10):
        w.record_request("a.req.v1", f"q{i}", 0, T0)
    for i in range(6):
        w.record_reply("a.res.v1", f"q{i}", 0, T0 + 29.9)
    early = w.stats(T0 + 29.99)["a.req.v1"]
    assert (early.unanswered, early.pending, early.answered) == (0, 4, 6)
    at = w.stats(T0 + 30.0)["a.req.v1"]  # exactly the timeout: unanswered
    assert (at.unanswered, at.pending, at.answered) == (4, 0, 6)
    assert w.stats(T0 + 30.0)["a.res.v1"].unanswered == 0


def test_a_late_reply_counts_as_a_reply_but_not_as_an_answer():
    w = window(unanswered_after_s=1)
    w.record_request("a.req.v1", "q", 5 * NS, T0)
    w.expire(T0 + 2)
    w.record_reply("a.res.v1", "q", 9 * NS, T0 + 2, error="late")
    req, res = w.stats(T0 + 3)["a.req.v1"], w.stats(T0 + 3)["a.res.v1"]
    assert (req.unanswered, req.answered, req.latency_samples) == (1, 0, 0)
    assert (res.replies, res.error_replies) == (1, 1)
    assert w.recent_errors()[-1].request_topic is None


def test_a_reply_read_before_its_request_answers_it_when_the_request_comes():
    """Requests and replies live on different topics, read in whatever order their fetches
    return: under load the watcher read all 20 replies of a burst before 14 of its requests
    (tests/test_traffic.py)."""
    w = window(unanswered_after_s=30)
    w.record_reply("a.res.v1", "q1", 12 * NS, T0)
    w.record_reply("a.res.v1", "q2", 14 * NS, T0, error="boom")
    w.record_request("a.req.v1", "q1", 2 * NS, T0 + 0.1)
    w.record_request("a.req.v1", "q2", 4 * NS, T0 + 0.1)
    row = w.stats(T0 + 31)["a.req.v1"]  # long after the timeout: nothing left pending
    assert (row.requests, row.answered, row.pending, row.unanswered) == (2, 2, 0, 0)
    assert row.latency_samples == 2
    assert row.latency_p50_ms == pytest.approx(10, rel=BUCKET_PRECISION)
    assert w.stats(T0 + 31)["a.res.v1"].error_replies == 1
    assert w.recent_errors()[-1].request_topic == "a.req.v1"  # named once the request came


def test_a_reply_whose_request_never_comes_is_forgotten_after_the_timeout():
    w = window(unanswered_after_s=5, max_pending=3)
    for i in range(5):  # bounded like the pending table: the oldest early replies go
        w.record_reply("a.res.v1", f"q{i}", 0, T0)
    assert len(w._early) == 3 and "q0" not in w._early
    w.expire(T0 + 5)
    assert not w._early
    w.record_request("a.req.v1", "q4", 0, T0 + 6)  # too late to match: pending as usual
    assert w.pending() == 1


def test_unanswered_lands_in_the_second_it_timed_out_whenever_it_is_read():
    w = window(window_s=10, unanswered_after_s=5)
    w.record_request("a.req.v1", "q", 0, T0)
    assert w.stats(T0 + 14.5)["a.req.v1"].unanswered == 1  # timed out at 1005: in window
    w2 = window(window_s=10, unanswered_after_s=5)
    w2.record_request("a.req.v1", "q", 0, T0)
    assert w2.stats(T0 + 15.5)["a.req.v1"].unanswered == 0  # 1005 has left the window


def test_full_pending_table_evicts_the_oldest_as_unanswered():
    w = window(max_pending=3)
    for i in range(5):
        w.record_request("a.req.v1", f"q{i}", 0, T0)
    assert w.pending() == 3 and w.evicted == 2
    w.record_reply("a.res.v1", "q0", 0, T0)  # evicted: no match
    w.record_reply("a.res.v1", "q4", 0, T0)
    row = w.stats(T0 + 1)["a.req.v1"]
    assert (row.unanswered, row.answered, row.pending) == (2, 1, 2)


def test_a_repeated_request_id_is_pending_once():
    w = window()
    w.record_request("a.req.v1", "q", 0, T0)
    w.record_request("a.req.v1", "q", 0, T0)
    assert w.pending() == 1
    assert w.stats(T0 + 1)["a.req.v1"].requests == 2


# ---- latency ----------------------------------------------------------------------------------


def test_latency_percentiles_within_bucket_precision_on_the_request_topic():
    w = window()
    for i in range(1, 151):  # 1..150 ms
        w.record_request("a.req.v1", f"q{i}", 10_000 * NS, T0)
        w.record_reply("a.res.v1", f"q{i}", (10_000 + i) * NS, T0 + 0.5)
    row = w.stats(T0 + 1)["a.req.v1"]
    assert row.latency_samples == 150
    assert row.latency_p50_ms == pytest.approx(75, rel=BUCKET_PRECISION)
    assert row.latency_p99_ms == pytest.approx(149, rel=BUCKET_PRECISION)
    assert w.stats(T0 + 1)["a.res.v1"].latency_p50_ms is None


def test_latency_needs_the_request_and_skew_clamps_to_zero():
    w = window()
    w.record_reply("a.res.v1", "unseen", 5 * NS, T0)
    assert w.stats(T0 + 1)["a.req.v1"].latency_samples == 0
    w.record_request("a.req.v1", "q", 50 * NS, T0)
    w.record_reply("a.res.v1", "q", 20 * NS, T0)  # reply "before" request: skewed clocks
    assert w.stats(T0 + 1)["a.req.v1"].latency_p50_ms == 0.0


@pytest.mark.parametrize("ms", [0.011, 0.5, 1, 3.3, 75, 149, 1_000, 59_999, 3_600_000])
def test_bucket_value_is_within_half_a_bucket(ms):
    assert latency_bucket_value(latency_bucket(ms)) == pytest.approx(ms, rel=BUCKET_PRECISION)


def test_bucket_ends():
    assert latency_bucket(-5) == latency_bucket(0) == latency_bucket(math.nan) == 0
    assert latency_bucket(LATENCY_MIN_MS) == 1
    assert latency_bucket(LATENCY_MAX_MS * 10) == LATENCY_BUCKETS - 1
    assert latency_bucket_value(LATENCY_BUCKETS - 1) == LATENCY_MAX_MS
    assert latency_percentile({}, 0.5) is None


def test_nearest_rank_percentile():
    histogram = {latency_bucket(1): 98, latency_bucket(1000): 2}
    assert latency_percentile(histogram, 0.98) == pytest.approx(1, rel=BUCKET_PRECISION)
    assert latency_percentile(histogram, 0.99) == pytest.approx(1000, rel=BUCKET_PRECISION)


# ---- recent errors ----------------------------------------------------------------------------


def test_recent_errors_are_bounded_ordered_and_cut():
    w = TrafficWindow(recent=5)
    w.add_topic("a.res.v1", TopicRole.REPLY, T0)
    w.add_topic("a.req.v1", TopicRole.WATCHED, T0)
    w.record_request("a.req.v1", "q7", 0, T0)
    for i in range(10):
        w.record_reply("a.res.v1", f"q{i}", i, T0, error=f"e{i}" * 500)
    errors = w.recent_errors()
    assert [e.request_id for e in errors] == [f"q{i}" for i in range(5, 10)]
    assert all(len(e.error) == ERROR_TEXT_MAX for e in errors)
    assert errors[2].request_topic == "a.req.v1" and errors[1].request_topic is None
    assert (errors[0].topic, errors[0].created_at_ns) == ("a.res.v1", 5)


# ---- dead letters -----------------------------------------------------------------------------


def test_dead_letter_offsets_baseline_growth_and_reset():
    offsets = DeadLetterOffsets()
    assert offsets.update({("x.dlq", 0): 100, ("x.dlq", 1): 7}) == {}
    assert offsets.known("x.dlq")
    assert offsets.update({("x.dlq", 0): 103, ("x.dlq", 1): 7, ("x.dlq", 2): 4}) == {
        ("x.dlq", 0): (100, 103)}  # partition 2 is new: baseline
    assert offsets.update({("x.dlq", 0): 2}) == {}  # went down: re-baselined, nothing counted
    assert offsets.update({("x.dlq", 0): 5}) == {("x.dlq", 0): (2, 5)}
    offsets.forget(["x.dlq"])
    assert not offsets.known("x.dlq")


def test_dead_letter_inflow_on_the_dlq_row_and_its_source_row_counted_once_in_total():
    w = window()
    w.add_topic("a.req.v1.dlq", TopicRole.DEAD_LETTER, T0)
    w.record_dead_letters("a.req.v1.dlq", 25, T0 + 1)
    w.record_dead_letters("a.req.v1.dlq", 0, T0 + 1)
    stats = w.stats(T0 + 5)
    assert stats["a.req.v1.dlq"].dead_letters == stats["a.req.v1.dlq"].messages == 25
    assert stats["a.req.v1.dlq"].dlq_inflow_per_s == pytest.approx(5.0)
    assert stats["a.req.v1"].dlq_inflow_per_s == pytest.approx(5.0)
    assert stats["a.res.v1"].dlq_inflow_per_s == 0.0
    assert w.total(T0 + 5).dlq_inflow_per_s == pytest.approx(5.0)


def test_recent_dead_letters_are_bounded():
    w = TrafficWindow(recent=3)
    for offset in range(10):
        w.add_dead_letter(DeadLetter("x.dlq", 0, offset, 0, "boom", 3, "x", 0, offset, None,
                                     None))
    assert [d.offset for d in w.recent_dead_letters()] == [7, 8, 9]


# ---- total ------------------------------------------------------------------------------------


def test_total_sums_counts_and_rates_and_merges_latency():
    w = window()
    w.add_topic("b.req.v1", TopicRole.WATCHED, T0 + 3)  # watched for 2 s only
    for i in range(4):
        w.record_request("a.req.v1", f"a{i}", 0, T0)
        w.record_reply("a.res.v1", f"a{i}", 10 * NS, T0, error="x" if i == 0 else None)
        w.record_event("b.req.v1", T0 + 4)
    total = w.total(T0 + 5)
    assert (total.topic, total.role) == ("*", "total")
    assert (total.messages, total.requests, total.replies, total.events) == (12, 4, 4, 4)
    assert total.error_pct == pytest.approx(25.0)
    assert total.messages_per_s == pytest.approx(8 / 5 + 4 / 2)
    assert total.latency_p50_ms == pytest.approx(10, rel=BUCKET_PRECISION)
    assert total.latency_samples == 4


# ---- memory bounds ----------------------------------------------------------------------------


def test_a_million_events_keep_the_window_bounded():
    cap, window_s, topics = 10_000, 60, ("a.req.v1", "a.res.v1", "b.req.v1")
    w = TrafficWindow(window_s=window_s, unanswered_after_s=30, max_pending=cap, recent=50)
    for topic in topics:
        w.add_topic(topic, TopicRole.WATCHED, T0)
    block_s: list[float] = []  # CPU seconds per 100,000 events (other processes aside)
    started = time.perf_counter()
    now = T0
    for i in range(1_000_000):
        if i % 100_000 == 0:
            block_s.append(time.process_time())
        now = T0 + i * 0.0005  # 2,000 events/s for 500 s of traffic
        kind = i % 5
        if kind == 0:
            w.record_request("a.req.v1", f"q{i}", i * 1000, now)
        elif kind == 1:  # answers 1 request out of 2 (by id), with a spread of latencies
            w.record_reply("a.res.v1", f"q{i - 1 - 5 * (i % 2)}", i * 1000 + (i % 997) * NS,
                           now, error=None if i % 3 else f"error {i}")
        elif kind == 2:
            w.record_event("b.req.v1", now)
        elif kind == 3:
            w.record_request("b.req.v1", f"never{i}", 0, now)
        else:
            w.record_undecodable("b.req.v1", now)
        if i % 2_000 == 0:
            w.expire(now)
    elapsed = time.perf_counter() - started
    block_s = [b - a for a, b in zip(block_s, [*block_s[1:], time.process_time()], strict=True)]
    size = w.footprint()
    assert size["pending"] <= cap
    assert size["second_slots"] == window_s * len(topics)
    assert size["latency_entries"] <= window_s * LATENCY_BUCKETS
    assert size["recent_errors"] <= 50
    stats = w.stats(now)
    assert stats["a.req.v1"].latency_samples > 0
    assert stats["b.req.v1"].unanswered > 0
    assert stats["a.req.v1"].requests == pytest.approx(2_000 / 5 * stats["a.req.v1"].window_s,
                                                       rel=0.01)
    # bounded work per event: once the window has filled (60 s of traffic: 120,000 events,
    # during the second block), no block costs much more CPU than the second one did here
    assert max(block_s[2:]) < 3 * block_s[1], (f"1e6 events took {elapsed:.1f} s", block_s)

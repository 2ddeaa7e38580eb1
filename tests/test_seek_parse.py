"""Seek without a broker: the parsers (fuzzed: nothing but ConfigError on any input), the pure
planning rules, and how a plan renders (CSV, Kafka command, refusal messages)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.cluster.seek import (
    SeekChange,
    SeekPlan,
    is_live_group_error,
    plan_changes,
    refusal_message,
)
from core.cluster.seek_parse import (
    CsvRow,
    SeekStrategy,
    StrategyKind,
    TopicScope,
    duration_target_ms,
    format_datetime,
    merge_scopes,
    parse_datetime,
    parse_duration,
    parse_offset,
    parse_reset_csv,
    parse_shift,
    parse_topic_scope,
    rows_for_group,
    strategy_from_options,
)
from core.cluster.snapshot import GroupMember
from core.errors import ConfigError

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
NS = 1_000_000_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


# ---- scopes and numbers --------------------------------------------------------------------------


def test_topic_scope_forms():
    assert parse_topic_scope("orders") == TopicScope("orders", None)
    assert parse_topic_scope(" orders:2,0,2 ") == TopicScope("orders", (0, 2))
    assert str(parse_topic_scope("a.b_c-1:3")) == "a.b_c-1:3"


@pytest.mark.parametrize("spec, words", [
    ("", "no topic name"), (":0", "no topic name"), ("t:", "no partitions"),
    ("t:a", "'a' is not a partition"), ("t:-1", "'-1' is not a partition"),
    ("t:0,,1", "'' is not a partition"), ("t:0:1", "'0:1' is not a partition"),
    ("bad name", "not a legal topic name"), ("..", "not a legal topic name"),
    ("t:99999999999", "not a partition"), ("t:١", "not a partition"),
])
def test_topic_scope_errors(spec, words):
    with pytest.raises(ConfigError, match=words):
        parse_topic_scope(spec)


def test_merge_scopes_adds_partitions_and_whole_topic_wins():
    merged = merge_scopes([TopicScope("a", (1,)), TopicScope("b", None), TopicScope("a", (0, 1)),
                           TopicScope("b", (3,)), TopicScope("c", (2,)), TopicScope("c", None)])
    assert merged == (TopicScope("a", (0, 1)), TopicScope("b", None), TopicScope("c", None))


def test_offsets_and_shifts():
    assert parse_offset("42") == 42 and parse_offset("+7") == 7 and parse_offset(0) == 0
    assert parse_shift("-5") == -5 and parse_shift("+3") == 3
    with pytest.raises(ConfigError, match="≥ 0, not -3.*clamp"):
        parse_offset("-3")
    for bad in ("", "1.5", "1e3", "0x10", "1_000", "٣", "99999999999999999999", " - 1"):
        with pytest.raises(ConfigError):
            parse_shift(bad)


# ---- datetimes (Kafka's Utils.getDateTime, as checked against ConsumerGroupCommand 4.1.1) ------


@pytest.mark.parametrize("text, iso", [
    ("2026-11-28T02:00:03.000", "2026-11-28T02:00:03+00:00"),  # no zone = UTC, not local
    ("2026-11-28T02:00:03.000Z", "2026-11-28T02:00:03+00:00"),
    ("2026-11-28T03:00:03.000+01:00", "2026-11-28T02:00:03+00:00"),
    ("2026-11-28T03:00:03.000+01", "2026-11-28T02:00:03+00:00"),
    ("2026-11-28T03:00:03.000+0100", "2026-11-28T02:00:03+00:00"),
    ("2026-11-28T01:00:03.000-01:00", "2026-11-28T02:00:03+00:00"),
    ("2026-11-28T02:00:03.250Z", "2026-11-28T02:00:03.250+00:00"),
    ("2026-11-28T02:00:03Z", "2026-11-28T02:00:03+00:00"),  # ours only: Kafka wants .sss
    ("1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00+00:00"),
])
def test_datetime_forms(text, iso):
    assert parse_datetime(text) == ms(iso)


@pytest.mark.parametrize("text, words", [
    ("2026-11-28 02:00:03.000", "is not YYYY"),  # Kafka: no 'T'
    ("2026-11-28T02:00:03.5Z", "3 digits"),  # Kafka reads .5 as 5 ms
    ("2026-11-28T02:00:03.1234", "3 digits"),
    ("2026-11-28T02:00:03.000z", "is not YYYY"),  # Kafka rejects lower-case z too
    ("2026-11-28T02:00:61.000", "second must be"),
    ("2026-02-30T02:00:00.000", "day is out of range"),
    ("2026-11-28T02:00:03.000+1:00", "is not YYYY"),
    ("2026-11-28T02:00:03.000+24:00", "zone offset"),
    ("2026-11-28T02:00:03.000Zjunk", "is not YYYY"),  # Kafka ignores trailing junk; we don't
    ("12026-11-28T02:00:03.000", "is not YYYY"),
    ("1969-12-31T23:59:59.999Z", "before 1970"),
    ("1700000003000", "is not YYYY"),
])
def test_datetime_errors(text, words):
    with pytest.raises(ConfigError, match=words):
        parse_datetime(text)


@given(st.integers(0, ms("9999-12-31T23:59:59.999+00:00")))
def test_datetime_round_trip(epoch_ms):
    assert parse_datetime(format_datetime(epoch_ms)) == epoch_ms


def test_strategy_to_datetime_from_a_datetime():
    naive = SeekStrategy.to_datetime(datetime(2026, 11, 28, 2, 0, 3))
    assert naive.timestamp_ms == SeekStrategy.to_datetime(
        datetime(2026, 11, 28, 2, 0, 3, tzinfo=UTC)).timestamp_ms


# ---- durations (java.time.Duration.parse) ------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [
    ("PT10M", 600), ("P1DT2H", 93_600), ("P1D", 86_400), ("pt1h", 3600), ("+PT2H", 7200),
    ("-PT1H", -3600), ("PT-5M", -300), ("PT1H-5M", 3300), ("-PT-1H", 3600), ("P0D", 0),
    ("PT1.5S", 1.5), ("PT1,5S", 1.5), ("PT-1.5S", -1.5), ("PT1.S", 1), ("PT0.000000001S", 1e-9),
])
def test_duration_forms(text, seconds):
    assert parse_duration(text) == round(seconds * NS)


@pytest.mark.parametrize("text", [
    "PT", "P", "P1DT", "P1W", "P1Y", "P1M", "10m", "", "T1H", "PT1.1234567891S", "PT1H1H",
    "P99999999999999999999D", "P9999999999999999D", "PT1.5M", "PＴ1H", "PT١H",
])
def test_duration_errors(text):
    with pytest.raises(ConfigError, match="by-duration"):
        parse_duration(text)


@given(st.integers(0, 10_000), st.integers(0, 100), st.integers(0, 100), st.integers(0, 10**6),
       st.integers(0, 999), st.booleans())
def test_duration_components(days, hours, minutes, seconds, millis, negative):
    text = f"{'-' if negative else ''}P{days}DT{hours}H{minutes}M{seconds}.{millis:03d}S"
    expect = ((days * 86_400 + hours * 3600 + minutes * 60 + seconds) * 1000 + millis) * 10**6
    assert parse_duration(text) == (-expect if negative else expect)


def test_duration_target_is_now_minus_d_never_before_1970():
    now = ms("2026-11-28T10:00:00+00:00")
    assert duration_target_ms(parse_duration("PT10M"), now) == now - 600_000
    assert duration_target_ms(parse_duration("-PT10M"), now) == now + 600_000
    assert duration_target_ms(parse_duration("P100000D"), now) == 0


# ---- reset-plan CSV (Kafka's --export / --from-file) -------------------------------------------


def test_csv_kafka_export_forms():
    assert parse_reset_csv("t,0,0\nt,1,5\n\n") == (CsvRow(1, "t", 0, 0), CsvRow(2, "t", 1, 5))
    rows = parse_reset_csv('group,topic,partition,offset\r\ng1,t,0,3\r\n\r\ng2,"t",0,4\r\n')
    assert rows == (CsvRow(2, "t", 0, 3, "g1"), CsvRow(4, "t", 0, 4, "g2"))
    chosen, notes = rows_for_group(rows, "g2")
    assert {k: r.offset for k, r in chosen.items()} == {("t", 0): 4} and notes == []


def test_csv_later_row_wins_as_in_kafka():
    chosen, notes = rows_for_group(parse_reset_csv("t,0,4\nt,0,6\n"), "g", "f.csv")
    assert chosen[("t", 0)].offset == 6
    assert notes == ["f.csv line 2: t[0] again; this row wins over line 1"]
    with pytest.raises(ConfigError, match="f.csv has no rows for group g"):
        rows_for_group(parse_reset_csv("other,t,0,4\n"), "g", "f.csv")


@pytest.mark.parametrize("text, words", [
    ("t,0\n", "line 1: expected 3 fields"),
    ("t,0,1\nt,x,1\n", "line 2: partition 'x'"),
    ("t,0,1\n\nt,0,-4\n", "line 3: offset -4 is negative"),
    ("t,0,1\ng,t,0,1\n", "line 2: expected 3 fields"),
    ("t,0,1,2,3\n", "line 1: expected 3 fields"),
    ("bad topic,0,1\n", "line 1: 'bad topic' is not a legal topic"),
    ("t,0,1.5\n", "line 1: offset '1.5'"),
    (',t,0,1\n', "line 1: empty group"),
    ('t,"0,1\n', "line 1:"),
    ("\n \n", "has no offsets"),
    ("", "has no offsets"),
])
def test_csv_errors_name_the_line(text, words):
    with pytest.raises(ConfigError, match=words):
        parse_reset_csv(text, "f.csv")


# ---- the strategy options of the CLI -----------------------------------------------------------


def test_strategy_options_exactly_one():
    with pytest.raises(ConfigError, match="no strategy given: use one of --to-earliest.*"
                                          "--to-offset N.*--to-group G"):
        strategy_from_options({"to_earliest": False, "to_offset": None})
    with pytest.raises(ConfigError, match="only one strategy at a time, got --to-latest and "
                                          "--shift-by"):
        strategy_from_options({"to_latest": True, "shift_by": "-1"})
    assert strategy_from_options({"to_current": True}) == SeekStrategy.current()
    assert strategy_from_options({"shift_by": "-3"}).shift == -3
    assert strategy_from_options({"by_duration": " PT5M "}).text == "PT5M"
    files = {"plan.csv": "t,0,1\n"}
    from_file = strategy_from_options({"from_file": "plan.csv"}, read=files.__getitem__)
    assert from_file.kind is StrategyKind.FILE and from_file.rows == (CsvRow(1, "t", 0, 1),)
    with pytest.raises(ConfigError, match="cannot read '/nonexistent/x.csv'"):
        strategy_from_options({"from_file": "/nonexistent/x.csv"})
    with pytest.raises(ConfigError, match="--to-group needs a group id"):
        strategy_from_options({"to_group": " "})


# ---- fuzzing: any input → a result or ConfigError, nothing else --------------------------------

_near_datetime = st.from_regex(
    r"\A[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}[T ][0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}"
    r"(\.[0-9]{0,4})?(Z|z|[-+][0-9]{1,4}(:[0-9]{1,3})?)?.?\Z")
_near_duration = st.from_regex(
    r"\A[-+]?[Pp]([-+]?[0-9]{1,22}[DdWwYy])?([Tt]([-+]?[0-9]{1,22}[Hh])?([-+]?[0-9]{1,22}[Mm])?"
    r"([-+]?[0-9]{1,22}([.,][0-9]{0,11})?[Ss])?)?\Z")
_csv_text = st.text(alphabet="tg01-9,\"\r\n \t.x_-+\x00é", max_size=80)


def _only_config_errors(parse, value):
    try:
        parse(value)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc).strip("\n")


@FUZZ
@given(st.text() | _near_datetime)
def test_fuzz_datetime(text):
    _only_config_errors(parse_datetime, text)


@FUZZ
@given(st.text() | _near_duration)
def test_fuzz_duration(text):
    _only_config_errors(parse_duration, text)


@FUZZ
@given(st.text() | st.from_regex(r"\A[a-z.]{0,3}(:[-0-9,]{0,8})?\Z"))
def test_fuzz_topic_scope(text):
    _only_config_errors(parse_topic_scope, text)


@FUZZ
@given(st.text() | st.integers() | st.from_regex(r"\A[-+ ]?[0-9]{0,25}\Z"))
def test_fuzz_numbers(value):
    _only_config_errors(parse_offset, value)
    _only_config_errors(parse_shift, value)


@FUZZ
@given(st.text() | _csv_text)
def test_fuzz_csv(text):
    _only_config_errors(lambda t: rows_for_group(parse_reset_csv(t, "f.csv"), "g"), text)


_option_values = st.none() | st.booleans() | st.text(max_size=30) | st.integers() | _near_duration
_option_names = st.sampled_from([k.value.replace("-", "_") for k in StrategyKind])


@FUZZ
@given(st.dictionaries(_option_names, _option_values, max_size=4))
def test_fuzz_strategy_options(options):
    _only_config_errors(lambda o: strategy_from_options(o, read=lambda name: name), options)


# ---- pure planning rules -----------------------------------------------------------------------

T = "t"
PARTS = [(T, 0), (T, 1), (T, 2)]
STARTS = {(T, 0): 0, (T, 1): 5, (T, 2): 0}
ENDS = {(T, 0): 10, (T, 1): 20, (T, 2): 4}
COMMITS = {(T, 0): 4, (T, 1): 12}  # p2 never committed


def targets(strategy, **kw):
    changes, notes = plan_changes(strategy, kw.pop("parts", PARTS), kw.pop("commits", COMMITS),
                                  STARTS, ENDS, **kw)
    return {(c.topic, c.partition): c.target for c in changes}, changes, notes


def test_to_current_without_commit_is_log_end():
    got, changes, _ = targets(SeekStrategy.current())
    assert got == {(T, 0): 4, (T, 1): 12, (T, 2): 4}
    assert changes[2].note == "no commit: log end" and changes[2].lag_before is None


def test_to_current_keeps_a_commit_below_log_start():
    got, changes, _ = targets(SeekStrategy.current(), commits={(T, 1): 2})
    assert got[(T, 1)] == 2 and not changes[1].clamped


def test_shift_by_without_commit_is_an_error_naming_the_partition():
    with pytest.raises(ConfigError, match=r"cannot shift t\[2\]: no current committed offset"):
        targets(SeekStrategy.shift_by(-1))
    got, changes, _ = targets(SeekStrategy.shift_by(-9), parts=PARTS[:2])
    assert got == {(T, 0): 0, (T, 1): 5}
    assert changes[1].clamp_reason == "below log start 5: clamped to 5"
    assert changes[1].requested == 3 and changes[1].lag_after == 15


def test_to_offset_clamps_both_ways():
    got, changes, _ = targets(SeekStrategy.to_offset(15))
    assert got == {(T, 0): 10, (T, 1): 15, (T, 2): 4}
    assert [c.clamp_reason for c in changes] == [
        "above log end 10: clamped to 10", None, "above log end 4: clamped to 4"]
    got, _, _ = targets(SeekStrategy.to_offset(2))
    assert got[(T, 1)] == 5


def test_earliest_latest_and_by_time():
    assert targets(SeekStrategy.earliest())[0] == STARTS
    assert targets(SeekStrategy.latest())[0] == ENDS
    got, changes, _ = targets(SeekStrategy.by_duration("PT1M"),
                              by_time={(T, 0): 7, (T, 1): 7, (T, 2): -1})
    assert got == {(T, 0): 7, (T, 1): 7, (T, 2): 4} and changes[2].note.endswith("log end")


def test_to_group_leaves_out_partitions_the_source_never_committed():
    got, changes, notes = targets(SeekStrategy.to_group("src"), requested={(T, 0): 6, (T, 1): 2})
    assert got == {(T, 0): 6, (T, 1): 5} and changes[1].clamped
    assert notes == ["t[2]: group src has no commit there: left out"]


# ---- rendering ---------------------------------------------------------------------------------


def plan_of(strategy, scope=(), changes=None, state="Empty", members=()):
    changes = changes or (SeekChange(T, 0, 4, 0, lag_before=6, lag_after=10, log_end=10),
                          SeekChange(T, 2, None, 4, log_end=4))
    return SeekPlan("g1", strategy.describe(), changes, state, members, strategy, scope)


def test_csv_export_round_trips():
    plan = plan_of(SeekStrategy.earliest())
    assert plan.to_csv() == "t,0,0\nt,2,4\n"
    rows = parse_reset_csv(plan.to_csv())
    assert {(r.topic, r.partition): r.offset for r in rows} == plan.offsets()


@pytest.mark.parametrize("strategy, scope, expect", [
    (SeekStrategy.earliest(), (), "--to-earliest --all-topics"),
    (SeekStrategy.to_offset(5), (TopicScope("t", (0, 2)), TopicScope("u")),
     "--to-offset 5 --topic t:0,2 --topic u"),
    (SeekStrategy.shift_by(-5), (TopicScope("t"),), "--shift-by -5 --topic t"),
    (SeekStrategy.to_datetime("2026-11-28T11:00:00.000+01:00"), (TopicScope("t"),),
     "--to-datetime 2026-11-28T10:00:00.000Z --topic t"),
    (SeekStrategy.by_duration("P1DT2H"), (), "--by-duration P1DT2H --all-topics"),
    (SeekStrategy.from_csv("t,0,1\n", "my plan.csv"), (), "--from-file 'my plan.csv'"),
    (SeekStrategy.to_group("src"), (TopicScope("t"),), "--from-file offsets.csv"),
])
def test_kafka_command(strategy, scope, expect):
    plan = plan_of(strategy, scope)
    prefix = "kafka-consumer-groups.sh --bootstrap-server b:9092 --group g1 --reset-offsets "
    assert plan.kafka_command("b:9092") == prefix + expect + " --dry-run"
    assert plan.kafka_command("b:9092", execute=True).endswith(" --execute")


def test_refusal_names_the_members():
    members = (GroupMember("m1", "svc-1", "/10.0.0.1"), GroupMember("m2", "svc-2", "/10.0.0.2"))
    assert refusal_message("g", "Stable", members) == (
        "group g is Stable with 2 members (svc-1@/10.0.0.1, svc-2@/10.0.0.2): stop them first; "
        "seek only applies to Empty or Dead groups")
    plan = plan_of(SeekStrategy.earliest(), state="Stable", members=members)
    assert not plan.can_apply and "svc-2@/10.0.0.2" in plan.refusal
    assert plan_of(SeekStrategy.earliest(), state="Dead").refusal is None
    many = tuple(GroupMember(f"m{i}", f"c{i}", "/h") for i in range(8))
    assert "c4@/h, +3 more)" in refusal_message("g", "Stable", many)


@pytest.mark.parametrize("text, live", [
    ("commit offsets of g failed for t[0]: Broker: Unknown member", True),
    ("commit offsets of g: UNKNOWN_MEMBER_ID", True),
    ("The group is not empty (NON_EMPTY_GROUP)", True),
    ("Broker: Specified group generation id is not valid (ILLEGAL_GENERATION)", True),
    ("commit offsets of g: Broker: Not coordinator", False),
    ("Broker: Group authorization failed", False),
])
def test_live_group_errors_are_recognised(text, live):
    assert is_live_group_error(text) is live

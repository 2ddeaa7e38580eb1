"""Bad input: property-based fuzzing of every parser a user's text reaches (nothing but the
documented error type, ever), then bad input against a real broker with topic auto-creation
off — oversize dispatch, non-JSON payload, unknown topic, wrong bootstrap, unresolvable host —
each giving one clear message in the CLI (one stderr line, exit ≠ 0, no traceback) and in the
TUI (the dispatch screen or the banner), with nothing half-applied (end offsets unchanged).

Already fuzzed elsewhere, not repeated here: the envelope decoder (tests/test_envelope.py:
arbitrary bytes and arbitrary JSON → EnvelopeError only), the seek parsers' datetimes,
durations, offsets/shifts, topic scopes, CSV and strategy options (tests/test_seek_parse.py)
and Nexus topic-name parsing (tests/test_topics.py). Wrong credentials: tests/test_security.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from textual.widgets import Input, Static, TextArea

from core.cluster.browse import BrowsedRecord, RecordFilter
from core.cluster.seek_parse import SeekStrategy, parse_group_id, read_text
from core.config.settings import ConnectionSettings, parse_properties
from core.errors import ConfigError
from core.local import LocalCluster
from core.local.cluster import _os_free_ports
from core.wire.envelope import Envelope
from core.wire.topic_names import (
    KAFKA_TOPIC_MAX_LENGTH,
    TopicName,
    TopicNameError,
    colliding_topics,
    dead_letter_source,
    dead_letter_topic,
    is_dead_letter_topic,
    is_nexus_topic,
    validate_kafka_topic,
)
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.coreloop import CoreLoop
from nexus_tui.screens.base import Banner
from nexus_tui.source import LiveSource
from tests.app_helpers import one_error_line, run_cli, wait_on
from tests.kafka_helpers import create_topic, end_offsets

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LEGAL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def only(error: type[Exception], call: Callable[[], Any]) -> Any:
    """Run `call`; the only exception allowed is `error`, with a one-line message."""
    try:
        return call()
    except error as exc:
        text = str(exc)
        assert text and "\n" not in text.strip(), repr(text)
        return exc


_near_topic = st.text(alphabet="ab.-_v019 /é\x00", max_size=20) | st.from_regex(
    r"\A[a-z]{1,3}(\.[a-z]{0,3}){0,5}\.v[0-9]{0,3}(\.dlq)?\Z")


# ---- topic names -------------------------------------------------------------------------------


@FUZZ
@given(st.text(max_size=300) | _near_topic | st.integers() | st.none() | st.binary(max_size=5))
@example("." * 250)
@example("a" * 249)
def test_fuzz_kafka_topic_names(name):
    result = only(TopicNameError, lambda: validate_kafka_topic(name))
    accepted = not isinstance(result, TopicNameError)
    assert accepted == (isinstance(name, str) and 0 < len(name) <= KAFKA_TOPIC_MAX_LENGTH
                        and set(name) <= LEGAL and name not in (".", "..")), name


@FUZZ
@given(st.text(max_size=300) | _near_topic)
def test_fuzz_topic_helpers(name):
    """Dead-letter names, Nexus detection and metric collisions: TopicNameError at most."""
    is_nexus_topic(name)
    is_dead_letter_topic(name)
    source = dead_letter_source(name)
    assert source is None or name == source + ".dlq"
    only(TopicNameError, lambda: dead_letter_topic(name))
    colliding_topics(name, ["a.b", "a_b", name])


_segment_values = st.text(max_size=12) | st.none() | st.integers() | st.sampled_from(
    ["cmd", "evt", "res", "", "a-b", "x_y"])


@FUZZ
@given(_segment_values, _segment_values, _segment_values, _segment_values,
       st.integers() | st.text(max_size=3) | st.booleans())
def test_fuzz_topic_name_construction(team, domain, purpose, kind, version):
    only(TopicNameError, lambda: TopicName(team, domain, purpose, kind, version))


# ---- the other parsers user text reaches ---------------------------------------------------------


@FUZZ
@given(st.text(max_size=80) | st.none() | st.integers())
def test_fuzz_group_ids(value):
    only(ConfigError, lambda: parse_group_id(value))
    only(ConfigError, lambda: SeekStrategy.to_group(value))


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_reset_plan_csv_through_the_strategy(text):
    only(ConfigError, lambda: SeekStrategy.from_csv(text, "plan.csv"))


@FUZZ
@given(st.text(max_size=40) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_fuzz_reset_plan_file_names(tmp_path_factory, name):
    """A --from-file name of any text (NUL bytes, directories, missing files): ConfigError."""
    base = tmp_path_factory.getbasetemp()
    only(ConfigError, lambda: read_text(base / name if name else ""))


@FUZZ
@given(st.lists(st.text(max_size=20), max_size=4))
def test_fuzz_client_properties(pairs):
    props = only(ConfigError, lambda: parse_properties(pairs))
    if isinstance(props, dict):
        assert all(k.strip() == k and k for k in props)


@FUZZ
@given(st.none() | st.text(max_size=20), st.none() | st.text(max_size=20),
       st.none() | st.text(max_size=15))
def test_fuzz_message_filters(root_id, text, kind):
    only(ConfigError, lambda: RecordFilter(root_id=root_id, text=text, kind=kind))


_payload_bytes = st.binary(max_size=300) | st.builds(
    lambda env: env.encode(), st.builds(
        Envelope.new_root, st.just("a.b.v1"), st.just("c.d.v1"),
        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
                         st.text(max_size=5), kids, max_size=3), max_leaves=8)))


@FUZZ
@given(_payload_bytes | st.none(), st.binary(max_size=20) | st.none(),
       st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=8) | st.none()), max_size=2),
       st.text(max_size=10))
def test_fuzz_any_record_renders_safely(value, key, headers, needle):
    """Any record off the wire (the envelope decoder behind it) shows in the Messages view
    and the CLI without an exception and without control characters on the one-line summary
    (no terminal escape sequence from a payload reaches the screen)."""
    record = BrowsedRecord.from_value("t", 0, 0, 0, key, value, headers)
    summary = record.summary()
    assert summary.isprintable() and len(summary) <= 200
    pretty = record.pretty()
    assert "\x1b" not in pretty
    json.dumps(record.as_json())
    RecordFilter(text=needle or None).matches(record)


# ---- inputs that once escaped as other errors (found by the fuzzing above) ---------------------


@pytest.mark.parametrize("text", ["²", "9" * 5000, "0001-01-01T00:00:00"])
def test_messages_from_time_rejects_with_config_error(text):
    from nexus_tui.cli.messages import parse_time

    only(ConfigError, lambda: parse_time(text))


def test_deeply_nested_payload_is_a_payload_error():
    from nexus_tui.screens.dispatch import check_payload

    value, error = check_payload("[" * 100_000)
    assert value is None and error


# ---- bad input against a real broker (topic auto-creation off) -----------------------------------


@pytest.fixture(scope="module")
def strict_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A single broker that never creates a topic because a client asked for it."""
    cluster = LocalCluster(state_dir=tmp_path_factory.mktemp("strict"))
    state = cluster.up(brokers=1, extra_config={"auto.create.topics.enable": "false"})
    try:
        yield state.bootstrap
    finally:
        cluster.down()


def _free_port() -> int:
    return _os_free_ports(1)[0]






def _topics(bootstrap: str) -> set[str]:
    from confluent_kafka.admin import AdminClient

    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


async def test_cli_bad_input_gives_one_clear_line_and_applies_nothing(strict_kafka, unique):
    topic, replies = f"{unique}.small.v1", f"{unique}.replies.v1"
    create_topic(strict_kafka, topic, partitions=2, config={"max.message.bytes": "1024"})
    create_topic(strict_kafka, replies, partitions=1)
    before = end_offsets(strict_kafka, topic)
    missing = f"{unique}.missing.v1"
    nowhere, unresolvable = f"127.0.0.1:{_free_port()}", "nexus-tui-test.invalid:9092"
    big = json.dumps({"blob": "x" * 4000})
    cases = [  # (arguments, words the one line must hold, the bootstrap used)
        (["dispatch", topic, "--payload", big], "too large", strict_kafka),
        (["dispatch", topic, "--payload", "{not json"], "not valid JSON", strict_kafka),
        (["dispatch", missing, "--payload", "{}"], f"topic {missing} does not exist",
         strict_kafka),
        (["dispatch", topic, "--payload", "{}"], "Connection refused", nowhere),
        (["groups"], "Connection refused", nowhere),
        (["dispatch", topic, "--payload", "{}"], "Failed to resolve", unresolvable),
        (["topics", "--json"], "Failed to resolve", unresolvable),
    ]
    messages: dict[str, tuple[float, str]] = {}  # case -> (seconds, the line)
    # what one command that succeeds costs on this machine now (interpreter, imports, a round)
    code, _, err, command_s = await run_cli("groups", "-b", strict_kafka, "--timeout", "3")
    assert code == 0, err
    for args, words, bootstrap in cases:
        extra = ["--reply-timeout", "1"] if args[0] == "dispatch" else []
        code, out, err, took = await run_cli(*args, "-b", bootstrap, "--timeout", "3", *extra)
        line = err.strip() if "--json" in args else one_error_line(code, err)
        if "--json" in args:
            assert code != 0 and "Traceback" not in err
            assert words in json.loads(line)["error"], line
        else:
            assert words in line, line
        # the --timeout (and --reply-timeout), plus twice what a successful command costs here
        assert took < 3 + 1 + 2 * command_s, f"{args} took {took:.1f} s ({command_s:.1f} s)"
        where = "unresolvable" if bootstrap == unresolvable else (
            "nothing listening" if bootstrap == nowhere else "broker")
        messages[f"{args[0]} @ {where}: {words}"] = (round(took, 2), line)
    print(f"\nFIGURES bad_input_cli (seconds, line): {json.dumps(messages, indent=1)}")
    assert end_offsets(strict_kafka, topic) == before
    assert missing not in _topics(strict_kafka)  # auto-creation is off: nothing created it


@pytest.fixture
def make_app() -> Iterator[Callable[..., NexusApp]]:
    cores: list[CoreLoop] = []

    def make(bootstrap: str, reply_topic: str = "nexus-tui.replies.v1") -> NexusApp:
        core = CoreLoop()
        cores.append(core)
        settings = ConnectionSettings(bootstrap=bootstrap, request_timeout_s=3.0)
        options = AppOptions(context="bad-input", refresh_interval_s=1.0,
                             reply_topic=reply_topic)
        return NexusApp(LiveSource(settings, core), options, core)

    yield make
    for core in cores:
        core.stop()




def _text(app: NexusApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_tui_dispatch_bad_input_shows_one_clear_message_and_applies_nothing(
        strict_kafka, unique, make_app):
    topic, replies = f"{unique}.small.v1", f"{unique}.replies.v1"
    create_topic(strict_kafka, topic, partitions=2, config={"max.message.bytes": "1024"})
    create_topic(strict_kafka, replies, partitions=1)
    before = end_offsets(strict_kafka, topic)
    missing = f"{unique}.missing.v1"
    app = make_app(strict_kafka, reply_topic=replies)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_on(pilot, lambda: app.pulse is not None
                        and topic in app.pulse.view.snapshot.topics, 30, "the first refresh")
        await pilot.press("6")
        await wait_on(pilot, lambda: type(app.screen).__name__ == "DispatchScreen", 5, "form")
        screen = app.screen
        # oversize: the broker refuses the record; "not sent", with the reason, in #result
        screen.query_one("#topic", Input).value = topic
        screen.query_one("#payload", TextArea).text = json.dumps({"blob": "x" * 4000})
        await wait_on(pilot, lambda: "valid JSON" in _text(app, "#payload-help"), 5, "valid")
        await pilot.press("ctrl+s")
        await wait_on(pilot, lambda: "not sent" in _text(app, "#result"), 30, "the refusal")
        result = _text(app, "#result")
        assert "too large" in result and len(result.strip().splitlines()) == 1, result
        # non-JSON: refused before sending; the form says why
        screen.query_one("#payload", TextArea).text = '{"name": '
        await wait_on(pilot, lambda: "not JSON" in _text(app, "#payload-help"), 5, "not JSON")
        await pilot.press("ctrl+s")
        await pilot.pause()  # the key handled: a refusal happens before any send
        assert _text(app, "#result") == result  # nothing new was sent
        # unknown topic (auto-creation off): refused before sending; the form says why
        screen.query_one("#payload", TextArea).text = "{}"
        screen.query_one("#topic", Input).value = missing
        await wait_on(pilot, lambda: "no such topic" in _text(app, "#topic-help"), 5,
                        "no such topic")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert _text(app, "#result") == result
        assert app.is_running and app.error is None
    assert end_offsets(strict_kafka, topic) == before
    assert missing not in _topics(strict_kafka)


@pytest.mark.parametrize("where", ["nothing listening", "unresolvable host"])
async def test_tui_wrong_bootstrap_shows_the_banner_and_dispatch_says_not_sent(
        where, unique, make_app):
    bootstrap = (f"127.0.0.1:{_free_port()}" if where == "nothing listening"
                 else "nexus-tui-test.invalid:9092")
    app = make_app(bootstrap)
    async with app.run_test(size=(160, 50)) as pilot:
        banner = app.screen.query_one(Banner)
        await wait_on(pilot, lambda: banner.display, 20, "the banner")
        text = str(banner.render())
        reason = "Connection refused" if where == "nothing listening" else "Failed to resolve"
        assert "cluster unreachable" in text and reason in text, text
        assert len(text.strip().splitlines()) == 1
        await pilot.press("6")
        await wait_on(pilot, lambda: type(app.screen).__name__ == "DispatchScreen", 5, "form")
        app.screen.query_one("#topic", Input).value = f"{unique}.any.v1"
        app.screen.query_one("#payload", TextArea).text = "{}"
        await pilot.press("ctrl+s")
        await wait_on(pilot, lambda: "not sent" in _text(app, "#result"), 20, "not sent")
        assert reason in _text(app, "#result")
        assert app.is_running

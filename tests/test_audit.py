"""The audit log: an intent line before every change and a result line after it, no secret in
any line, read-only refusing every write before any request, and `nexus-tui audit`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from core.cluster.audit import (
    REDACTED,
    audited,
    parse_since,
    read_entries,
    redact,
)
from core.config.settings import ConnectionSettings
from core.errors import ConfigError
from tests.admin_helpers import Cli, check_change_recorded
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts

NOW_MS = 1_796_000_000_000


@pytest.fixture
def cli(kafka, tmp_path) -> Cli:
    return Cli(kafka.bootstrap, tmp_path)


# ---- the file ----------------------------------------------------------------------------------


def test_an_exception_is_the_result_and_is_raised_again(tmp_path):
    path = tmp_path / "a.jsonl"
    settings = ConnectionSettings(bootstrap="b:1")
    with pytest.raises(ValueError), audited(settings, "x.y", {"topic": "t"}, path=path):
        raise ValueError("broker said no")
    intent, result = read_entries(path)
    assert intent["phase"] == "intent" and "error" not in intent
    assert result["outcome"] == "error" and result["error"] == "broker said no"
    assert intent["id"] == result["id"]


def test_a_killed_change_leaves_its_intent_line(tmp_path):
    path = tmp_path / "a.jsonl"
    code = textwrap.dedent(f"""
        import os
        from core.cluster.audit import audited
        from core.config.settings import ConnectionSettings
        with audited(ConnectionSettings(bootstrap="b:1"), "topic.purge", {{"topic": "t"}},
                     path=__import__("pathlib").Path({str(path)!r})):
            os._exit(9)   # killed mid-change: no result line can be written
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 9
    (intent,) = read_entries(path)
    assert intent["phase"] == "intent" and intent["action"] == "topic.purge"


def test_reading_filters_by_time_and_action_and_skips_a_torn_line(tmp_path):
    path = tmp_path / "a.jsonl"
    lines = [{"ts_ms": NOW_MS - 7_200_000, "action": "topic.alter"},
             {"ts_ms": NOW_MS - 60_000, "action": "topic.purge"},
             {"ts_ms": NOW_MS - 30_000, "action": "seek"},
             {"ts_ms": NOW_MS - 10_000, "action": "topics.fake"}]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines) + '{"ts_ms": 1, "act')
    since = parse_since("PT1H", NOW_MS)
    assert [e["action"] for e in read_entries(path, since)] == [
        "topic.purge", "seek", "topics.fake"]
    assert [e["action"] for e in read_entries(path, action="topic")] == [
        "topic.alter", "topic.purge"]
    assert read_entries(tmp_path / "missing.jsonl") == []


def test_since_takes_seeks_datetimes_and_durations():
    assert parse_since("2026-11-28T10:00:00.000Z", NOW_MS) == 1_795_860_000_000
    assert parse_since("2026-11-28T10:00:00", NOW_MS) == 1_795_860_000_000
    assert parse_since("P1D", NOW_MS) == NOW_MS - 86_400_000
    for bad in ("yesterday", "PT", "2026-11-28"):
        with pytest.raises(ConfigError, match="neither a datetime"):
            parse_since(bad, NOW_MS)


def test_secret_keys_are_redacted_at_any_depth():
    assert redact({"sasl.password": "p", "configs": {"x.token": "t", "retention.ms": "1"},
                   "list": [{"ssl_key_password": "k"}]}) == {
        "sasl.password": REDACTED, "configs": {"x.token": REDACTED, "retention.ms": "1"},
        "list": [{"ssl_key_password": REDACTED}]}


# ---- no secret, context name -------------------------------------------------------------------


def test_no_secret_reaches_any_line(kafka, cli, unique):
    cli.config_text = textwrap.dedent(f"""
        current_context = "oncall"
        [contexts.oncall]
        bootstrap = "{kafka.bootstrap}"
        sasl_username = "oncall-user-secret-1"
        sasl_password = "pw-secret-2"
        [contexts.oncall.client_properties]
        "sasl.oauthbearer.client.secret" = "pw-secret-3"
    """)
    name = f"{unique}.v1"
    for args in (("topic", "create", name, "--partitions", "1"),
                 ("topic", "alter", name, "--config", "retention.ms=1000", "--execute"),
                 ("topic", "alter", name, "--config", "retention.ms=oops", "--execute"),
                 ("topic", "purge", name, "--all")):
        cli.run(*args, "-X", "sasl.password=pw-secret-4", "-X", "ssl.key.password=pw-secret-5",
                "-X", "linger.ms=5", bootstrap=False)
    text = cli.audit.read_text()
    assert "pw-secret-" not in text and "user-secret" not in text
    entries = cli.entries()
    assert len(entries) == 8 and {e["context"] for e in entries} == {"oncall"}
    props = entries[0]["client_properties"]
    assert props == {"linger.ms": "5", "sasl.oauthbearer.client.secret": REDACTED,
                     "sasl.password": REDACTED, "ssl.key.password": REDACTED}
    assert {e["bootstrap"] for e in entries} == {kafka.bootstrap}
    assert all(e["user"] and e["host"] for e in entries)


# ---- read-only ---------------------------------------------------------------------------------

WRITES = [
    ("topic", "create", "t.x.v1", "--partitions", "1"),
    ("topic", "alter", "t.x.v1", "--config", "retention.ms=1", "--execute"),
    ("topic", "add-partitions", "t.x.v1", "--to", "9", "--execute"),
    ("topic", "purge", "t.x.v1", "--all", "--execute"),
    ("topic", "delete", "t.x.v1", "--execute", "--confirm", "t.x.v1"),
    ("group", "delete", "g", "--execute"),
    ("group", "delete-offsets", "g", "--topic", "t.x.v1", "--execute"),
    ("dlq", "redrive", "t.x.v1.dlq", "--execute"),
]


@pytest.mark.parametrize("args", WRITES, ids=lambda a: "-".join(a[:2]))
@pytest.mark.parametrize("how", ["flag", "context"])
def test_read_only_refuses_every_write_before_any_request(tmp_path, args, how):
    """Port 1 has no broker: a request would fail as "cannot reach"; the refusal comes first."""
    cli = Cli("127.0.0.1:1", tmp_path)
    extra: tuple[str, ...] = ("--read-only",)
    if how == "context":
        cli.config_text = ('current_context = "prod"\n[contexts.prod]\n'
                           'bootstrap = "127.0.0.1:1"\nread_only = true\n')
        extra = ()
    started = time.monotonic()
    line = cli.error(*args, *extra)
    assert "refused: the connection is read-only" in line
    assert time.monotonic() - started < 30  # no connection timeout was waited out
    intent, result = cli.last_record()
    assert "read-only" in intent["error"] and result["outcome"] == "error"


# ---- seek and dispatch are audited -------------------------------------------------------------


def test_seek_execute_is_audited_with_offsets_before_and_after(kafka, cli, unique):
    create_topic(kafka.bootstrap, unique, partitions=2)
    produce_counts(kafka.bootstrap, unique, [5, 5])
    group = f"{unique}-g"
    commit_offsets(kafka.bootstrap, group, {(unique, 0): 5, (unique, 1): 5})
    cli.json("seek", group, "--to-earliest", "--topic", unique, "--execute")
    intent, result = check_change_recorded(cli, "seek", "applied")
    assert intent["before"] == {f"{unique}[0]": 5, f"{unique}[1]": 5}
    assert intent["after"] == {f"{unique}[0]": 0, f"{unique}[1]": 0}
    assert intent["args"]["group"] == group


def test_dispatch_is_audited_with_where_it_landed(kafka, cli, unique):
    topic = f"{unique}.cmd.v1"
    create_topic(kafka.bootstrap, topic)
    sent = cli.json("dispatch", topic, "--payload", '{"a": 1}', "--reply-timeout", "0")
    intent, result = check_change_recorded(cli, "dispatch", "applied")
    assert intent["args"]["topic"] == topic and intent["args"]["id"] == sent["id"]
    assert result["result"]["offset"] == sent["offset"]


# ---- nexus-tui audit ---------------------------------------------------------------------------


def test_audit_command_lists_filters_and_prints_json(kafka, cli, unique):
    name = f"{unique}.v1"
    cli.run("topic", "create", name, "--partitions", "1")
    cli.run("topic", "alter", name, "--config", "retention.ms=bad", "--execute")
    listed = cli.json("audit", "--since", "PT10M", "--action", "topic.alter",
                      bootstrap=False)
    assert [e["phase"] for e in listed] == ["intent", "result"]
    assert "retention.ms" in listed[0]["error"]
    human = cli.run("audit", "--action", "topic", bootstrap=False)
    assert human.returncode == 0 and human.stdout.count("topic.create") == 2
    assert "neither a datetime" in cli.error("audit", "--since", "soon", bootstrap=False)

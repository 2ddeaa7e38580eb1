"""Security on a real broker: a SASL_SSL listener (TLS with a test CA, mutual TLS with a client
certificate whose key is password-protected, SASL/SCRAM-SHA-512 users created at format time)
guarded by Kafka's StandardAuthorizer and ACLs. nexus-tui reaches it through contexts of a
config file with the secrets in env vars and files. Proven here:

- admin sees everything; alice, without Describe on one group, sees that group reported as
  not authorized (GroupInfo.error, `groups --json`, the TUI's groups table), not a crash;
- a wrong password is one clear "authentication failed" line (CLI) and the banner (TUI);
- no secret (SASL passwords, the key password) appears in any output, screenshot, log or
  crash log;
- read-only is enforced in the core, before any request;
- alice, without Create/Alter/AlterConfigs/Delete ACLs, gets the broker's "not authorized" as
  one line for every admin write (topic create/alter/add-partitions/purge/delete, group
  delete/delete-offsets): nothing changes, the audit log has the intent and the error;
- OAUTHBEARER (OIDC client credentials) and Amazon MSK IAM settings render for both client
  libraries, the OIDC token grant works against a local token endpoint.

The listener layout (PLAINTEXT kept for the controller and inter-broker traffic, whose
principal User:ANONYMOUS is a super user) is described in core.local.cluster.SecureListener
and docs/SECURITY.md.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import msgspec
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from core import Envelope, KafkaPublisher
from core.cluster.admin import AuthenticationFailed, KafkaAdmin
from core.cluster.dispatch import dispatch_once
from core.config.contexts import ContextConfig, load_settings
from core.config.oauth import OidcTokenProvider, OidcTokens
from core.config.secret import Secret
from core.config.settings import ConnectionSettings
from core.errors import ConfigError, ReadOnlyError
from core.local import LocalCluster
from core.local.cluster import SecureListener
from core.messaging.requester import Requester
from nexus_tui.app import AppOptions, NexusApp
from nexus_tui.cli.connection import connection_from
from nexus_tui.coreloop import CoreLoop
from nexus_tui.screens.base import Banner
from nexus_tui.source import LiveSource
from nexus_tui.widgets import KeyedTable
from tests.app_helpers import one_error_line, run_cli, wait_on
from tests.tls_helpers import Pki, make_pki

ROOT = Path(__file__).resolve().parent.parent
SIZE = (160, 50)
TOPIC = "sec.orders.v1"
ALLOWED, DENIED = "sec-allowed-grp", "sec-denied-grp"


def _secret() -> str:
    return "S" + secrets.token_hex(12)  # distinctive: a hit in any output is a real leak


@dataclass(frozen=True)
class Secure:
    plain: str  # PLAINTEXT bootstrap: the harness's super-user back door
    bootstrap: str  # SASL_SSL bootstrap
    pki: Pki
    admin_pw: str
    alice_pw: str
    wrong_pw: str
    config: Path  # config.toml with the contexts admin, alice, wrong
    env: dict[str, str]  # the environment the CLI runs with (secrets in env vars)
    home: Path

    @property
    def secrets(self) -> dict[str, str]:
        return {"admin password": self.admin_pw, "alice password": self.alice_pw,
                "wrong password": self.wrong_pw, "key password": self.pki.client_key_password}


def _context(name: str, bootstrap: str, pki: Pki, user: str, password_line: str,
             key_line: str) -> str:
    return f"""
[contexts.{name}]
bootstrap = "{bootstrap}"
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "{user}"
{password_line}
ssl_ca_location = "{pki.ca_cert}"
ssl_certificate_location = "{pki.client_cert}"
ssl_key_location = "{pki.client_key}"
{key_line}
request_timeout_s = 4
"""


def _setup_acls_and_data(s: Secure) -> None:
    conf = ConnectionSettings(
        bootstrap=s.bootstrap, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
        sasl_username="admin", sasl_password=s.admin_pw, ssl_ca_location=str(s.pki.ca_cert),
        ssl_certificate_location=str(s.pki.client_cert),
        ssl_key_location=str(s.pki.client_key), ssl_key_password=s.pki.client_key_password,
    ).confluent_config()
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(30)

    def allow(kind: ResourceType, name: str, op: AclOperation,
              pattern: ResourcePatternType = ResourcePatternType.LITERAL) -> AclBinding:
        return AclBinding(kind, name, pattern, "User:alice", "*", op, AclPermissionType.ALLOW)

    acls = [allow(ResourceType.BROKER, "kafka-cluster", AclOperation.DESCRIBE),  # list groups
            allow(ResourceType.TOPIC, "sec.", AclOperation.DESCRIBE, ResourcePatternType.PREFIXED),
            allow(ResourceType.TOPIC, "sec.", AclOperation.READ, ResourcePatternType.PREFIXED),
            allow(ResourceType.GROUP, ALLOWED, AclOperation.DESCRIBE),
            allow(ResourceType.GROUP, ALLOWED, AclOperation.READ)]  # nothing on DENIED
    for fut in admin.create_acls(acls).values():
        fut.result(30)
    producer = Producer(conf)
    for i in range(10):
        producer.produce(TOPIC, b"not an envelope", partition=i % 2)
    assert producer.flush(30) == 0
    for group, offset in ((ALLOWED, 2), (DENIED, 3)):
        consumer = Consumer(dict(conf, **{"group.id": group, "enable.auto.commit": False}))
        consumer.commit(offsets=[TopicPartition(TOPIC, 0, offset)], asynchronous=False)
        consumer.close()


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    home = tmp_path_factory.mktemp("secure")
    admin_pw, alice_pw, wrong_pw = _secret(), _secret(), _secret()
    pki = make_pki(home / "pki", _secret())
    listener = SecureListener(
        keystore=str(pki.broker_keystore), truststore=str(pki.ca_cert),
        scram_users=(("admin", admin_pw), ("alice", alice_pw)), client_auth="required")
    cluster = LocalCluster(state_dir=home / "state")
    state = cluster.up(brokers=1, secure=listener)
    try:
        (home / "alice.pw").write_text(alice_pw + "\n")
        (home / "key.pw").write_text(pki.client_key_password + "\n")
        config = home / "config.toml"
        config.write_text('current_context = "admin"\nrefresh_interval_s = 1\n' + "".join([
            _context("admin", state.secure_bootstrap, pki, "admin",
                     'sasl_password_env = "NEXUS_TEST_ADMIN_PW"',
                     f'ssl_key_password_file = "{home / "key.pw"}"'),
            _context("alice", state.secure_bootstrap, pki, "alice",
                     f'sasl_password_file = "{home / "alice.pw"}"',
                     'ssl_key_password_env = "NEXUS_TEST_KEY_PW"'),
            _context("wrong", state.secure_bootstrap, pki, "alice",
                     'sasl_password_env = "NEXUS_TEST_WRONG_PW"',
                     'ssl_key_password_env = "NEXUS_TEST_KEY_PW"'),
            _context("badkey", state.secure_bootstrap, pki, "alice",
                     f'sasl_password_file = "{home / "alice.pw"}"',
                     'ssl_key_password_env = "NEXUS_TEST_WRONG_PW"'),
        ]))
        env = dict(os.environ, NEXUS_TUI_CONFIG=str(config), NEXUS_TEST_ADMIN_PW=admin_pw,
                   NEXUS_TEST_WRONG_PW=wrong_pw, NEXUS_TEST_KEY_PW=pki.client_key_password,
                   XDG_STATE_HOME=str(home / "xdg-state"), PYTHONPATH=str(ROOT))
        env.pop("NEXUS_TUI_BOOTSTRAP", None)
        s = Secure(state.bootstrap, state.secure_bootstrap, pki, admin_pw, alice_pw, wrong_pw,
                   config, env, home)
        _setup_acls_and_data(s)
        yield s
    finally:
        cluster.down()


@pytest.fixture
def configured(secure: Secure, monkeypatch: pytest.MonkeyPatch) -> Secure:
    """This process sees the config file and the secrets' env vars, as the CLI does."""
    for key in ("NEXUS_TUI_CONFIG", "NEXUS_TEST_ADMIN_PW", "NEXUS_TEST_WRONG_PW",
                "NEXUS_TEST_KEY_PW", "XDG_STATE_HOME"):
        monkeypatch.setenv(key, secure.env[key])
    monkeypatch.delenv("NEXUS_TUI_BOOTSTRAP", raising=False)
    return secure


async def _cli(s: Secure, *args: str, timeout: float = 60) -> tuple[int, str, str, float]:
    return await run_cli(*args, timeout=timeout, cwd=s.home, env=s.env)




@pytest.fixture
def make_app() -> Iterator[Callable[[ConnectionSettings], NexusApp]]:
    cores: list[CoreLoop] = []

    def make(settings: ConnectionSettings, context: str = "test") -> NexusApp:
        core = CoreLoop()
        cores.append(core)
        return NexusApp(LiveSource(settings, core),
                        AppOptions(context=context, refresh_interval_s=1.0), core)

    yield make
    for core in cores:
        core.stop()




# ---- TLS + SCRAM + ACLs ------------------------------------------------------------------------


async def test_contexts_reach_the_tls_scram_listener_and_acls_are_reported(configured):
    s = configured
    code, out, err, _ = await _cli(s, "topics", "--json")  # current_context = admin
    assert code == 0, err
    assert TOPIC in {t["topic"] for t in json.loads(out)}

    code, out, err, _ = await _cli(s, "groups", "--json", "--context", "admin")
    assert code == 0, err
    as_admin = {g["group"]: g for g in json.loads(out)}
    assert as_admin[DENIED]["error"] is None and as_admin[DENIED]["total_lag"] is not None

    code, out, err, _ = await _cli(s, "groups", "--json", "--context", "alice")
    assert code == 0, err  # one group not authorized is not a failure of the command
    as_alice = {g["group"]: g for g in json.loads(out)}
    assert as_alice[ALLOWED]["error"] is None and as_alice[ALLOWED]["total_lag"] == 3
    assert "not authorized" in as_alice[DENIED]["error"]
    assert "GROUP_AUTHORIZATION_FAILED" in as_alice[DENIED]["error"]
    code, out, err, _ = await _cli(s, "groups", "--context", "alice")  # the human table
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "not authorized" in rows[DENIED] and "not authorized" not in rows[ALLOWED], out

    code, out, err, _ = await _cli(s, "group", "describe", DENIED, "--context", "alice")
    line = one_error_line(code, err)
    assert "not authorized" in line and DENIED in line, line

    # alice may read but not write: a dispatch is refused, one line, nothing produced
    code, out, err, _ = await _cli(s, "dispatch", TOPIC, "--payload", "{}", "--context",
                                   "alice", "--reply-timeout", "1")
    line = one_error_line(code, err)
    assert "not authorized" in line, line

    # the core sees the same through the same context
    alice = load_settings().context("alice")[1].connection()
    info = (await KafkaAdmin(alice).describe_groups([DENIED, ALLOWED]))
    assert info[DENIED].error and "not authorized" in info[DENIED].error
    assert info[ALLOWED].error is None


async def test_tui_groups_table_reports_a_group_it_may_not_describe(configured, make_app):
    app = make_app(connection_from(None, "alice", (), False, 4.0), "alice")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on(pilot, lambda: app.pulse is not None, 30, "the first refresh")
        await pilot.press("3")
        await wait_on(pilot, lambda: type(app.screen).__name__ == "GroupsScreen", 5, "groups")
        table = app.screen.query_one(KeyedTable)
        await wait_on(pilot, lambda: DENIED in table.keys and ALLOWED in table.keys, 20,
                        "both groups")
        assert "not authorized" in str(table.get_cell(DENIED, "reason"))
        assert "not authorized" not in str(table.get_cell(ALLOWED, "reason"))
        assert str(table.get_cell(ALLOWED, "lag")) == "3"
        assert app.error is None and app.is_running


async def test_wrong_password_is_one_clear_authentication_error(configured, make_app):
    s = configured
    code, _, err, command_s = await _cli(s, "groups", "--context", "admin", "--timeout", "3")
    assert code == 0, err  # what a successful command costs on this machine now
    code, out, err, took = await _cli(s, "groups", "--context", "wrong", "--timeout", "3")
    line = one_error_line(code, err)
    assert "authentication failed" in line and "invalid credentials" in line, line
    assert took < 3 + 2 * command_s, (took, command_s)  # the timeout at most, not a hang
    code, out, err, _ = await _cli(s, "topics", "--json", "--context", "wrong",
                                   "--timeout", "3")
    assert "authentication failed" in json.loads(one_error_line(code, err))["error"]
    for args in (("topics",), ("messages", TOPIC)):  # a key its password does not open
        code, out, err, _ = await _cli(s, *args, "--context", "badkey", "--timeout", "3")
        assert "bad connection settings" in one_error_line(code, err) or (
            "wrong ssl_key_password" in err), err
    with pytest.raises(AuthenticationFailed, match="authentication failed"):
        await KafkaAdmin(load_settings().context("wrong")[1].connection(
            request_timeout_s=3)).snapshot()

    app = make_app(connection_from(None, "wrong", (), False, 3.0), "wrong")
    async with app.run_test(size=SIZE) as pilot:
        banner = app.screen.query_one(Banner)
        await wait_on(pilot, lambda: banner.display, 20, "the banner")
        text = str(banner.render())
        assert "authentication failed" in text and len(text.strip().splitlines()) == 1, text
        print(f"\nFIGURES wrong_password: cli {line!r}; banner {text!r}")


# ---- secrets never shown -----------------------------------------------------------------------


async def test_secrets_never_appear_in_output_screens_logs_or_crash_logs(
        configured, make_app, caplog):
    s = configured
    caplog.set_level(logging.DEBUG)
    seen: dict[str, str] = {}  # where -> text

    runs = [
        ("topics", "--json"), ("topics",), ("groups", "--json", "--context", "alice"),
        ("groups", "--context", "alice"), ("group", "describe", ALLOWED, "--json"),
        ("topic", "describe", TOPIC, "--json"),
        ("messages", TOPIC, "--json", "--from-beginning", "--limit", "5"),
        ("dispatch", TOPIC, "--payload", '{"a": 1}', "--reply-timeout", "1", "--json"),
        ("seek", ALLOWED, "--to-earliest", "--json"),
        ("groups", "--context", "wrong", "--timeout", "3"),
        ("topics", "--json", "--context", "wrong", "--timeout", "3"),
        ("group", "describe", DENIED, "--context", "alice"),
        ("seek", DENIED, "--to-latest", "--execute", "--context", "alice"),
        ("topics", "--context", "badkey"), ("messages", TOPIC, "--context", "badkey"),
    ]
    results = await asyncio.gather(*(_cli(s, *args) for args in runs))
    for args, (_code, out, err, _) in zip(runs, results, strict=True):
        seen[f"stdout of {' '.join(args)}"] = out
        seen[f"stderr of {' '.join(args)}"] = err
        assert "Traceback" not in err, (args, err)
    ok = {" ".join(a): r[0] for a, r in zip(runs, results, strict=True)}
    assert ok["topics --json"] == 0 and ok["groups --json --context alice"] == 0
    assert ok["groups --context wrong --timeout 3"] != 0

    # the TUI, every view, with good and with wrong credentials
    for context in ("admin", "wrong"):
        settings = connection_from(None, context, (), False, 3.0)
        as_json = msgspec.json.encode(settings, enc_hook=str).decode()
        seen[f"repr of {context}"] = repr(settings) + str(settings) + as_json
        await _tui_screens(make_app(settings, context), context, seen, s.bootstrap)
    seen["python logging"] = "\n".join(r.getMessage() for r in caplog.records)
    for path in (s.home / "xdg-state").rglob("*"):  # the crash log lives here (if any)
        if path.is_file():
            seen[f"file {path}"] = path.read_text(errors="replace")
    # the search looks at real output: the views show the cluster. (The TUI's traffic watcher,
    # monitor and group reader log in their child processes, whose output goes nowhere:
    # core/engine/child.py)
    assert s.bootstrap in seen["TUI admin view Overview"] and TOPIC in seen["TUI admin view Topics"]
    assert "authentication failed" in seen["TUI wrong banner"]
    for name, value in s.secrets.items():
        leaks = [where for where, text in seen.items() if value in text]
        assert not leaks, f"the {name} shows in {leaks}"
    print(f"\nFIGURES secrets: searched {len(seen)} outputs for {len(s.secrets)} secrets: "
          "none found")


async def _tui_screens(app: NexusApp, context: str, seen: dict[str, str],
                       s_bootstrap: str = "") -> None:
    """Visit every view (and a group's detail) and keep a screenshot of each in `seen`."""
    async with app.run_test(size=SIZE) as pilot:
        await wait_on(pilot, lambda: app.pulse is not None or app.error is not None, 30,
                        "a refresh")
        if context == "wrong":
            await wait_on(pilot, lambda: app.error is not None, 20, "the banner")
            seen["TUI wrong banner"] = app.export_screenshot() + str(app.error)
        for name in ("Overview", "Topics", "Groups", "Errors", "Messages", "Dispatch"):
            await app.run_action(f"view('{name.lower()}')")  # as its key does (1-6)
            await wait_on(pilot, lambda n=name: type(app.screen).__name__ == f"{n}Screen", 5,
                          name)
            shown = {"Overview": s_bootstrap, "Topics": TOPIC}.get(name) if context == "admin" \
                else None
            if shown:  # the views the search must see filled in: wait for their data
                await wait_on(pilot, lambda x=shown: x in app.export_screenshot(), 10,
                              f"{shown} on {name}")
            await pilot.pause()  # the other views: whatever they show once drawn is searched
            seen[f"TUI {context} view {name}"] = app.export_screenshot()
            if name == "Groups" and context == "admin":
                table = app.screen.query_one(KeyedTable)
                await wait_on(pilot, lambda t=table: ALLOWED in t.keys, 20, "groups")
                table.move_cursor(row=table.get_row_index(ALLOWED))
                await pilot.press("enter")
                await wait_on(pilot, lambda: type(app.screen).__name__ ==
                                "GroupDetailScreen", 5, "the group's detail")
                await wait_on(pilot, lambda: ALLOWED in app.export_screenshot(), 10,
                              "the group's detail drawn")
                seen["TUI admin group detail"] = app.export_screenshot()
                await pilot.press("escape")
                await wait_on(pilot, lambda: type(app.screen).__name__ == "GroupsScreen", 5,
                                "back")


# ---- read-only: refused in the core before any request ------------------------------------------


async def test_read_only_is_refused_in_the_core_before_any_request():
    # nothing listens on port 1: any request would fail with a connection error instead
    ro = ConnectionSettings(bootstrap="127.0.0.1:1", read_only=True, request_timeout_s=2)
    env = Envelope.new_root("sec.ro.v1", "sec.ro.v1", {"x": 1})
    refusals: dict[str, float] = {}

    async def refused(what: str, call: Callable[[], object]) -> None:
        started = time.monotonic()
        with pytest.raises(ReadOnlyError, match="read-only"):
            result = call()
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result
        refusals[what] = time.monotonic() - started

    async with KafkaPublisher(ro) as pub:
        await refused("publish", lambda: pub.publish(env))
        await refused("publish_nowait", lambda: pub.publish_nowait(env))
        await refused("publish_many", lambda: pub.publish_many([env]))
        await refused("publish_raw", lambda: pub.publish_raw("sec.ro.v1", b"x"))
        assert pub.metrics.snapshot().total("publish_errors") == 0
    await refused("Requester.start", lambda: Requester(ro, "sec.replies.v1").start())
    await refused("dispatch_once", lambda: dispatch_once(ro, "sec.ro.v1", {"x": 1}))
    admin = KafkaAdmin(ro)
    await refused("alter_group_offsets", lambda: admin.alter_group_offsets(
        "g", {("sec.ro.v1", 0): 0}))
    await refused("create_topics", lambda: admin.create_topics([("sec.ro.v1", 1, 1)]))
    await refused("delete_topics", lambda: admin.delete_topics(["sec.ro.v1"]))
    slowest = max(refusals.values())
    print(f"\nFIGURES read_only: {len(refusals)} writes refused, slowest {slowest * 1000:.1f} ms")
    # refused before any request: each refusal well within the request timeout (the errors
    # being ReadOnlyError, not ClusterUnreachable, is the proof; this is the cost)
    assert slowest < ro.request_timeout_s / 4, refusals


# ---- OAUTHBEARER (OIDC) and Amazon MSK IAM ------------------------------------------------------


class _TokenEndpoint(BaseHTTPRequestHandler):
    """A client-credentials token endpoint: checks Basic auth, hands out numbered tokens."""

    client = ("nexus-tui", "")
    issued: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", 0))
        form = self.rfile.read(length).decode()
        user, secret = self.client
        want = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
        if self.headers.get("Authorization") != want or "grant_type=client_credentials" not in (
                form):
            self.send_response(401)
            self.end_headers()
            return
        token = f"token-{len(self.issued) + 1}"
        self.issued.append(token)
        body = json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 3600})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:  # quiet
        pass


async def test_oauthbearer_oidc_and_msk_iam_settings():
    secret = _secret()
    server = HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    _TokenEndpoint.client = ("nexus-tui", secret)
    _TokenEndpoint.issued = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/token"
    try:
        conn = ContextConfig(
            bootstrap="b-1.example:9096", security_protocol="SASL_SSL",
            sasl_mechanism="OAUTHBEARER", sasl_oauthbearer_method="oidc",
            sasl_oauthbearer_token_endpoint_url=url, sasl_oauthbearer_client_id="nexus-tui",
            sasl_oauthbearer_client_secret_env="NEXUS_TEST_OIDC_SECRET",
            sasl_oauthbearer_scope="kafka", sasl_oauthbearer_extensions="logicalCluster=lkc-1",
        )
        os.environ["NEXUS_TEST_OIDC_SECRET"] = secret
        settings = conn.connection()
        assert secret not in repr(settings) + msgspec.json.encode(settings, enc_hook=str).decode()
        librdkafka = settings.confluent_config()
        assert librdkafka["sasl.mechanism"] == "OAUTHBEARER"
        assert librdkafka["sasl.oauthbearer.method"] == "oidc"
        assert librdkafka["sasl.oauthbearer.token.endpoint.url"] == url
        assert librdkafka["sasl.oauthbearer.client.secret"] == secret
        assert librdkafka["sasl.oauthbearer.extensions"] == "logicalCluster=lkc-1"
        provider = settings.aiokafka_kwargs()["sasl_oauth_token_provider"]
        assert isinstance(provider, OidcTokenProvider)
        assert await provider.token() == "token-1"
        assert await provider.token() == "token-1"  # cached until shortly before it expires
        assert provider.extensions() == {"logicalCluster": "lkc-1"}
        bad = OidcTokens(url, "nexus-tui", Secret("not-" + secret))
        with pytest.raises(ConfigError, match="no OAuth token from") as refused:
            bad.get()
        assert secret not in str(refused.value)
    finally:
        os.environ.pop("NEXUS_TEST_OIDC_SECRET", None)
        server.shutdown()
    with pytest.raises(ConfigError, match="sasl_oauthbearer_client_id"):
        ContextConfig(sasl_mechanism="OAUTHBEARER", sasl_oauthbearer_method="oidc",
                      sasl_oauthbearer_token_endpoint_url=url).connection()
    msk = ContextConfig(bootstrap="b-1.msk.example:9098", security_protocol="SASL_SSL",
                        msk_iam_region="eu-west-1").connection()
    try:
        import aws_msk_iam_sasl_signer  # noqa: F401
    except ImportError:  # the optional extra is not installed: a clear one-line error
        with pytest.raises(ConfigError, match=r"pip install 'nexus-tui\[msk-iam\]'"):
            msk.confluent_config()
    else:
        conf = msk.confluent_config()
        assert conf["sasl.mechanism"] == "OAUTHBEARER" and callable(conf["oauth_cb"])


# ---- administration without the ACL ---------------------------------------------------------

#: alice's admin writes: she may describe and read `sec.` topics and ALLOWED, nothing more
ADMIN_WRITES = [
    ("topic.create", ["topic", "create", "sec.made.v1", "--partitions", "1"]),
    ("topic.alter", ["topic", "alter", TOPIC, "--config", "retention.ms=3600000",
                     "--execute"]),
    ("topic.add-partitions", ["topic", "add-partitions", TOPIC, "--to", "3", "--execute"]),
    ("topic.purge", ["topic", "purge", TOPIC, "--all", "--execute"]),
    ("topic.delete", ["topic", "delete", TOPIC, "--execute", "--confirm", TOPIC]),
    ("group.delete", ["group", "delete", ALLOWED, "--execute"]),
    ("group.delete-offsets", ["group", "delete-offsets", ALLOWED, "--topic", TOPIC,
                              "--execute"]),
]


def _cluster_state(s: Secure) -> dict[str, object]:
    """What the writes above could change, read as the super user (PLAINTEXT)."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import ConfigResource, OffsetSpec

    admin = AdminClient({"bootstrap.servers": s.plain})
    topics = admin.list_topics(timeout=10).topics
    resource = ConfigResource(ConfigResource.Type.TOPIC, TOPIC)
    configs = admin.describe_configs([resource])[resource].result(30)
    starts = admin.list_offsets({TopicPartition(TOPIC, p): OffsetSpec.earliest()
                                 for p in range(len(topics[TOPIC].partitions))})
    listed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(ALLOWED)])
    return {"topics": sorted(t for t in topics if t.startswith("sec.")),
            "partitions": len(topics[TOPIC].partitions),
            "retention.ms": configs["retention.ms"].value,
            "log starts": {tp.partition: f.result(30).offset for tp, f in starts.items()},
            "committed": {(tp.topic, tp.partition): tp.offset for tp in
                          listed[ALLOWED].result(30).topic_partitions or []}}


@pytest.mark.parametrize("action, args", ADMIN_WRITES, ids=[a for a, _ in ADMIN_WRITES])
async def test_an_admin_write_without_the_acl_is_the_brokers_not_authorized(
        configured, tmp_path, action, args):
    """alice has no Create, Alter, AlterConfigs or Delete ACL: each write is the broker's
    "not authorized" in one line, nothing changes (read back as the super user), and the
    audit log has the intent line and the error."""
    from core.cluster.audit import read_entries

    s = configured
    audit = tmp_path / "audit.jsonl"
    before = _cluster_state(s)
    code, _, err, _ = await run_cli(*args, "--context", "alice", timeout=60, cwd=s.home,
                                    env=dict(s.env, NEXUS_TUI_AUDIT_LOG=str(audit)))
    line = one_error_line(code, err)
    assert "not authorized" in line.lower(), line
    assert _cluster_state(s) == before
    entries = read_entries(audit)
    assert [e["phase"] for e in entries] == ["intent", "result"], entries
    assert {e["action"] for e in entries} == {action}
    assert entries[-1]["outcome"] == "error"
    assert "not authorized" in json.dumps(entries).lower()

"""User configuration: contexts from the TOML file and NEXUS_TUI_ env vars, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config.contexts import load_settings


@pytest.fixture
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("NEXUS_TUI_CURRENT_CONTEXT", "NEXUS_TUI_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEXUS_TUI_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.chdir(tmp_path)  # no .env here
    return tmp_path / "config.toml"


def test_unrelated_env_vars_do_not_leak_into_the_default_context(
        no_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # another tool's variables: the default context must not pick them up
    monkeypatch.setenv("BOOTSTRAP", "10.9.9.9:1")
    monkeypatch.setenv("READ_ONLY", "true")
    monkeypatch.setenv("SASL_USERNAME", "someone-else")
    name, ctx = load_settings().context(None)
    assert (name, ctx.bootstrap, ctx.read_only, ctx.sasl_username) == (
        "default", "127.0.0.1:9092", False, None)


def test_file_contexts_and_prefixed_env_overrides(
        no_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_config.write_text('current_context = "a"\n[contexts.a]\nbootstrap = "a:9092"\n'
                         '[contexts.b]\nbootstrap = "b:9092"\nread_only = true\n')
    settings = load_settings()
    assert settings.context(None)[1].bootstrap == "a:9092"
    assert settings.context("b")[1].read_only is True
    monkeypatch.setenv("NEXUS_TUI_CURRENT_CONTEXT", "b")
    assert load_settings().context(None)[0] == "b"


def test_unknown_field_in_a_context_is_one_clear_error(no_config: Path) -> None:
    from core.errors import ConfigError

    no_config.write_text('[contexts.a]\nbootstrap = "a:9092"\nbootstrp = "typo"\n')
    with pytest.raises(ConfigError, match="contexts.a.bootstrp"):
        load_settings()


def test_with_nothing_to_read_the_defaults_come_without_opening_a_source(
        no_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file, no .env, no env var naming a setting (NEXUS_TUI_CONFIG names the file,
    not a setting): the defaults, and the sources' reader (TOML, dotenv) is not even loaded."""
    import os
    import subprocess
    import sys

    from core.config.contexts import NexusSettings, configured

    for name in os.environ:
        if name.upper().startswith("NEXUS_TUI_") and name != "NEXUS_TUI_CONFIG":
            monkeypatch.delenv(name)
    assert not configured()
    assert load_settings() == NexusSettings()
    script = ("import sys; from core.config.contexts import load_settings; s = load_settings();"
              "print(s.refresh_interval_s, "
              "{'core.config.sources', 'dotenv', 'tomllib'} & set(sys.modules) or 'none')")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=no_config.parent).stdout.split()
    assert out == ["5.0", "none"]
    monkeypatch.setenv("NEXUS_TUI_REFRESH_INTERVAL_S", "1")  # a setting named: read
    assert configured()


@pytest.mark.parametrize("name", ["NEXUS_TUI_REFRESH_INTERVAL_S", "nexus_tui_refresh_interval_s"])
def test_an_env_var_alone_is_read(no_config: Path, monkeypatch: pytest.MonkeyPatch,
                                  name: str) -> None:
    monkeypatch.setenv(name, "2.5")
    assert load_settings().refresh_interval_s == 2.5


def test_a_dot_env_file_alone_is_read(no_config: Path) -> None:
    (no_config.parent / ".env").write_text("NEXUS_TUI_REPLY_TOPIC=team.replies.v1\n")
    assert load_settings().reply_topic == "team.replies.v1"


def test_a_nested_context_env_var_alone_is_read(no_config: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_TUI_CONTEXTS__PROD__BOOTSTRAP", "prod:9093")
    assert load_settings().context("prod")[1].bootstrap == "prod:9093"


def test_env_over_dot_env_over_the_file_merged_key_by_key(
        no_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_config.write_text('reply_topic = "file.replies"\nrefresh_interval_s = 7\n'
                         '[contexts.prod]\nbootstrap = "file:9092"\nsasl_username = "u"\n'
                         '[contexts.prod.client_properties]\n"acks" = "all"\n')
    (no_config.parent / ".env").write_text("NEXUS_TUI_REPLY_TOPIC=dotenv.replies\n"
                                           "NEXUS_TUI_REFRESH_INTERVAL_S=3\n"
                                           "OTHER_TOOL_SETTING=x\n")
    monkeypatch.setenv("NEXUS_TUI_REFRESH_INTERVAL_S", "2")
    monkeypatch.setenv("NEXUS_TUI_CONTEXTS__PROD__READ_ONLY", "true")
    monkeypatch.setenv("NEXUS_TUI_CONTEXTS__PROD__CLIENT_PROPERTIES", '{"linger.ms": "5"}')
    monkeypatch.setenv("NEXUS_TUI_KEYMAP", '{"quit": "ctrl+q"}')
    settings = load_settings()
    assert (settings.reply_topic, settings.refresh_interval_s) == ("dotenv.replies", 2.0)
    assert settings.keymap == {"quit": "ctrl+q"}
    prod = settings.context("prod")[1]
    # the file's fields stay where the environment adds others to the same context
    assert (prod.bootstrap, prod.sasl_username, prod.read_only) == ("file:9092", "u", True)
    assert prod.client_properties == {"acks": "all", "linger.ms": "5"}


@pytest.mark.parametrize(("toml", "words"), [
    ('[contexts.a]\nsecurity_protocol = "SSLX"\n',
     "at contexts.a.security_protocol: Invalid enum value 'SSLX', not one of PLAINTEXT, SSL, "
     "SASL_PLAINTEXT, SASL_SSL"),
    ("[contexts.a]\nclient_properties = {acks = 1}\n",
     "at contexts.a.client_properties.acks: Expected `str`, got `int`"),
    ("[keymap]\nquit = 5\n", "at keymap.quit: Expected `str`, got `int`"),
    ("[contexts.a]\nsasl_password = 5\n", "at contexts.a.sasl_password: Expected `str`"),
    ("refresh_interval_s = -1\n", "at refresh_interval_s: Expected `float` >= 0.0"),
    ("contexts = 3\n", "at contexts: Expected `object`, got `int`"),
    ("x = [\n", "cannot read configuration"),
])
def test_a_bad_value_is_one_line_naming_where(no_config: Path, toml: str, words: str) -> None:
    from core.errors import ConfigError

    no_config.write_text(toml)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    line = str(refused.value)
    assert words in line and str(no_config) in line and "\n" not in line, line


def test_a_table_env_var_that_is_not_json_is_refused_by_name(
        no_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.errors import ConfigError

    monkeypatch.setenv("NEXUS_TUI_KEYMAP", "{quit: x}")
    with pytest.raises(ConfigError, match="NEXUS_TUI_KEYMAP in the environment is not a JSON"):
        load_settings()


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("false", False),
                                                  ("0", False)])
def test_env_text_becomes_the_setting_type(no_config: Path, monkeypatch: pytest.MonkeyPatch,
                                           value: str, expected: bool) -> None:
    monkeypatch.setenv("NEXUS_TUI_CONTEXTS__X__READ_ONLY", value)
    monkeypatch.setenv("NEXUS_TUI_CONTEXTS__X__REQUEST_TIMEOUT_S", "2.5")
    ctx = load_settings().context("x")[1]
    assert (ctx.read_only, ctx.request_timeout_s) == (expected, 2.5)


def test_secrets_inline_from_env_and_from_file_never_show(
        no_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    import msgspec

    (no_config.parent / "key.pw").write_text("from-file\n")
    no_config.write_text('[contexts.a]\nsasl_password = "inline-pw"\n'
                         'ssl_key_password_file = "key.pw"\n'
                         'sasl_oauthbearer_client_secret_env = "MY_SECRET"\n')
    monkeypatch.setenv("MY_SECRET", "from-env")
    conn = load_settings().context("a")[1].connection()
    values = [conn.sasl_password, conn.ssl_key_password, conn.sasl_oauthbearer_client_secret]
    assert [v.get_secret_value() for v in values] == ["inline-pw", "from-file", "from-env"]
    shown = repr(conn) + str(conn) + msgspec.json.encode(conn, enc_hook=str).decode()
    assert "inline-pw" not in shown and "from-env" not in shown and "from-file" not in shown
    with pytest.raises(TypeError):  # no JSON of a secret without saying how
        msgspec.json.encode(conn)
    assert pickle.loads(pickle.dumps(conn)) == conn  # the TUI hands it to its engine child


def test_a_missing_secret_source_is_named_not_shown(no_config: Path) -> None:
    from core.errors import ConfigError

    no_config.write_text('[contexts.a]\nsasl_password_env = "NOT_SET_ANYWHERE_42"\n'
                         '[contexts.b]\nsasl_password_file = "/nonexistent/pw"\n')
    settings = load_settings()
    with pytest.raises(ConfigError, match="env var NOT_SET_ANYWHERE_42 \\(the password\\)"):
        settings.context("a")[1].connection()
    with pytest.raises(ConfigError, match=r"cannot read /nonexistent/pw \(the password\): No "):
        settings.context("b")[1].connection()


def test_settings_built_by_code_are_checked_and_secrets_wrapped() -> None:
    from core import ConnectionSettings, Secret
    from core.errors import ConfigError

    conn = ConnectionSettings.of("k:9092", sasl_password="pw")
    assert isinstance(conn.sasl_password, Secret) and conn.sasl_password.get_secret_value() == "pw"
    assert conn.replace(read_only=True).read_only and not conn.read_only
    with pytest.raises(ConfigError, match="security_protocol is 'SSLX', not one of PLAINTEXT"):
        ConnectionSettings(security_protocol="SSLX")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs sasl_oauthbearer_client_id"):
        conn.replace(sasl_oauthbearer_method="oidc", sasl_oauthbearer_client_secret="s",
                     sasl_oauthbearer_token_endpoint_url="https://idp.example/token")
    with pytest.raises(ConfigError, match="request_timeout_s must be > 0"):
        conn.replace(request_timeout_s=0)


def test_the_cli_shows_a_bad_configuration_as_one_line(no_config: Path) -> None:
    import os
    import subprocess
    import sys

    no_config.write_text('[contexts.a]\nsecurity_protocol = "SSLX"\n')
    proc = subprocess.run([sys.executable, "-m", "nexus_tui", "topics", "--context", "a"],
                          capture_output=True, text=True, timeout=60, cwd=no_config.parent,
                          env={**os.environ, "NEXUS_TUI_CONFIG": str(no_config)})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: bad configuration at contexts.a.security_protocol")

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


def test_with_nothing_to_read_the_defaults_come_without_pydantic_settings(
        no_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config file, no .env, no env var naming a setting (NEXUS_TUI_CONFIG names the file,
    not a setting): the defaults, and pydantic-settings is not imported (the start pays less)."""
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
              "print(s.refresh_interval_s, 'pydantic_settings' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=no_config.parent).stdout.split()
    assert out == ["5.0", "False"]
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

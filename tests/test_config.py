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

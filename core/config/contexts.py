"""User configuration: clusters as named contexts, from a TOML file, env vars and .env.

    # ~/.config/nexus-tui/config.toml
    current_context = "local"
    refresh_interval_s = 5

    [contexts.local]
    bootstrap = "127.0.0.1:9092"

    [contexts.prod]
    bootstrap = "kafka-1.prod:9093"
    security_protocol = "SASL_SSL"
    sasl_mechanism = "SCRAM-SHA-512"
    sasl_username = "oncall"
    sasl_password_env = "PROD_KAFKA_PASSWORD"   # the secret stays out of the file
    read_only = true

Every secret (sasl_password, ssl_key_password, sasl_oauthbearer_client_secret) can be given
as `<name>_env` (an env var holding it) or `<name>_file` (a file holding it) instead; OAuth
(OIDC) and Amazon MSK IAM contexts are shown in docs/SECURITY.md.

Env vars override the file: NEXUS_TUI_CURRENT_CONTEXT=prod,
NEXUS_TUI_CONTEXTS__PROD__SASL_PASSWORD=... (nested keys with `__`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from core.config.settings import ConnectionFields, ConnectionSettings
from core.errors import ConfigError

#: the secrets a context may give as `<name>_env` or `<name>_file`, and what each is
SECRETS = {
    "sasl_password": "the password",
    "ssl_key_password": "the TLS key password",
    "sasl_oauthbearer_client_secret": "the OAuth client secret",
}


def config_path() -> Path:
    """NEXUS_TUI_CONFIG, else $XDG_CONFIG_HOME/nexus-tui/config.toml."""
    given = os.environ.get("NEXUS_TUI_CONFIG")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "nexus-tui" / "config.toml"


class ContextConfig(ConnectionFields):
    """One cluster: the connection's fields, plus each secret's `<name>_env` / `<name>_file`
    forms (a plain model: only NexusSettings reads the environment, with its NEXUS_TUI_
    prefix; an unrelated BOOTSTRAP or READ_ONLY env var must not leak in)."""

    model_config = ConfigDict(extra="forbid")

    sasl_password_env: str | None = Field(None, description="env var holding the password")
    sasl_password_file: Path | None = Field(None, description="file holding the password")
    ssl_key_password_env: str | None = None
    ssl_key_password_file: Path | None = None
    sasl_oauthbearer_client_secret_env: str | None = None
    sasl_oauthbearer_client_secret_file: Path | None = None

    def _secret(self, name: str, what: str) -> SecretStr | None:
        """The secret `name`: given inline, else from the env var `name_env`, else from the
        file `name_file`. Errors name the variable or file, never a value."""
        value = getattr(self, name)
        if value is not None:
            return value
        env: str | None = getattr(self, f"{name}_env")
        path: Path | None = getattr(self, f"{name}_file")
        if env:
            found = os.environ.get(env)
            if found is None:
                raise ConfigError(f"env var {env} ({what}) is not set")
            return SecretStr(found)
        if path:
            try:
                return SecretStr(path.read_text().strip())
            except OSError as exc:
                raise ConfigError(f"cannot read the {what} file {path}: "
                                  f"{exc.strerror}") from None
        return None

    def connection(self, **overrides: Any) -> ConnectionSettings:
        """The checked connection: this context's fields, each secret resolved from its
        inline value, env var or file, then `overrides` (those not None)."""
        data = self.model_dump(include=set(ConnectionFields.model_fields))
        for name, what in SECRETS.items():
            data[name] = self._secret(name, what)
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return ConnectionSettings(**data)
        except ValidationError as exc:  # e.g. oidc without a client id: one line, no values
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "context"
            raise ConfigError(f"bad connection settings ({where}): {first['msg']}") from None


class NexusSettings(BaseModel):
    """Everything a user can configure (read by `load_settings`)."""

    model_config = ConfigDict(extra="ignore")

    current_context: str | None = Field(None, description="context used when none is given")
    contexts: dict[str, ContextConfig] = Field(default_factory=dict)
    refresh_interval_s: float = Field(5.0, ge=0, description="auto-refresh period; 0 = manual")
    keymap: dict[str, str] = Field(default_factory=dict, description="binding id -> keys")
    reply_topic: str = Field("nexus-tui.replies.v1", description="where dispatch replies land")
    audit_log: Path | None = Field(None, description="the audit log file (NEXUS_TUI_AUDIT_LOG; "
                                   "default $XDG_STATE_HOME/nexus-tui/audit.jsonl)")

    def context(self, name: str | None = None) -> tuple[str, ContextConfig]:
        """The named context (or the current one); a clear error when it is unknown."""
        name = name or self.current_context
        if name is None:
            return "default", ContextConfig()
        if name not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none configured"
            raise ConfigError(f"unknown context {name!r} (known: {known}; file {config_path()})")
        return name, self.contexts[name]


#: the prefix of the env vars that set NexusSettings' fields (any case, as pydantic-settings
#: reads them; nested keys with `__`)
ENV_PREFIX = "NEXUS_TUI_"


def configured() -> bool:
    """Whether anything is there to read: the config file, a `.env` file here, or an env var
    naming one of NexusSettings' fields. When nothing is, the settings are the defaults and
    pydantic-settings is not even imported (every command and the TUI start pay less)."""
    if config_path().exists() or Path(".env").exists():
        return True
    fields = tuple(ENV_PREFIX + name.upper() for name in NexusSettings.model_fields)
    return any(key.upper().startswith(fields) for key in os.environ)


def load_settings() -> NexusSettings:
    """The settings from, in order of precedence: NEXUS_TUI_ env vars, `.env`, the TOML file."""
    if not configured():
        return NexusSettings()
    from core.config.sources import settings_from_sources

    try:
        return settings_from_sources()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"bad configuration at {where}: {first['msg']} ({config_path()})") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read configuration {config_path()}: {exc}") from None

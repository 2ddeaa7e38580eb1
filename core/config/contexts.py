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
from typing import Annotated, Any

import msgspec

from core.config.secret import Secret
from core.config.settings import (
    CHOICES,
    CONNECTION_FIELDS,
    ConnectionFields,
    ConnectionSettings,
    one_of,
)
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


class ContextConfig(ConnectionFields, frozen=True, kw_only=True):
    """One cluster: the connection's fields, plus each secret's `<name>_env` / `<name>_file`
    forms (only NexusSettings is read from the environment, with its NEXUS_TUI_ prefix; an
    unrelated BOOTSTRAP or READ_ONLY env var must not leak in)."""

    #: the env var holding the password
    sasl_password_env: str | None = None
    #: the file holding the password
    sasl_password_file: str | None = None
    ssl_key_password_env: str | None = None
    ssl_key_password_file: str | None = None
    sasl_oauthbearer_client_secret_env: str | None = None
    sasl_oauthbearer_client_secret_file: str | None = None

    def secret(self, name: str, what: str) -> Secret | None:
        """The secret `name`: given inline, else from the env var `name_env`, else from the
        file `name_file`. Errors name the variable or file, never a value."""
        value = getattr(self, name)
        if value is not None:
            return value
        env: str | None = getattr(self, f"{name}_env")
        path: str | None = getattr(self, f"{name}_file")
        if env:
            found = os.environ.get(env)
            if found is None:
                raise ConfigError(f"env var {env} ({what}) is not set")
            return Secret(found)
        if path:
            try:
                return Secret(Path(path).expanduser().read_text().strip())
            except OSError as exc:
                raise ConfigError(f"cannot read {path} ({what}): {exc.strerror}") from None
        return None

    def connection(self, **overrides: Any) -> ConnectionSettings:
        """The checked connection: this context's fields, each secret resolved from its
        inline value, env var or file, then `overrides` (those not None). A bad combination
        (e.g. oidc without a client id) is a ConfigError in one line, naming no value."""
        data = {name: getattr(self, name) for name in CONNECTION_FIELDS}
        for name, what in SECRETS.items():
            data[name] = self.secret(name, what)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return ConnectionSettings(**data)


class NexusSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a user can configure (read by `load_settings`)."""

    #: the context used when none is given
    current_context: str | None = None
    contexts: dict[str, ContextConfig] = {}
    #: the auto-refresh period; 0 = manual
    refresh_interval_s: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    #: binding id -> keys
    keymap: dict[str, str] = {}
    #: where dispatch replies land
    reply_topic: str = "nexus-tui.replies.v1"
    #: the audit log file (NEXUS_TUI_AUDIT_LOG; default $XDG_STATE_HOME/nexus-tui/audit.jsonl)
    audit_log: str | None = None

    def context(self, name: str | None = None) -> tuple[str, ContextConfig]:
        """The named context (or the current one); a clear error when it is unknown."""
        name = name or self.current_context
        if name is None:
            return "default", ContextConfig()
        if name not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none configured"
            raise ConfigError(f"unknown context {name!r} (known: {known}; file {config_path()})")
        return name, self.contexts[name]


#: the prefix of the env vars that set NexusSettings' fields (any case; nested keys with `__`)
ENV_PREFIX = "NEXUS_TUI_"


def configured() -> bool:
    """Whether anything is there to read: the config file, a `.env` file here, or an env var
    naming one of NexusSettings' fields. When nothing is, the settings are the defaults and
    no file is opened."""
    if config_path().exists() or Path(".env").exists():
        return True
    fields = tuple(ENV_PREFIX + name.upper() for name in NexusSettings.__struct_fields__)
    return any(key.upper().startswith(fields) for key in os.environ)


def _secret_from_text(kind: type, value: Any) -> Any:
    if kind is Secret and isinstance(value, str):
        return Secret(value)
    raise TypeError(f"Expected `str`, got `{type(value).__name__}`")  # msgspec adds where


def _convert(data: Any, kind: type, where: str) -> Any:
    """`data` converted to `kind`; a bad value is a ConfigError naming where it is
    (contexts.prod.security_protocol) and what is wrong, never a secret's value."""
    try:
        return msgspec.convert(data, kind, strict=False, dec_hook=_secret_from_text)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `")
        at = path.rstrip("`").removeprefix("$")
        if message.startswith("Object contains unknown field `"):
            at, message = f"{at}.{message.split('`')[1]}", "unknown field"
        field = at.rpartition(".")[2]
        if message.startswith("Invalid enum value") and field in CHOICES:
            message += f", not {one_of(field)}"
        at = f"{where}{at}".lstrip(".") or "the top level"
        raise ConfigError(f"bad configuration at {at}: {message} ({config_path()})") from None


def _tables(data: Any, where: str) -> Any:
    """Each entry of a table converted on its own, so that an error names its key (msgspec
    names a dict's keys `[...]`)."""
    if not isinstance(data, dict):
        return data  # not a table: msgspec says so
    return {key: _convert(value, str, f"{where}.{key}") for key, value in data.items()}


def settings_from(data: dict[str, Any]) -> NexusSettings:
    """NexusSettings from the merged sources' data (`core/config/sources.py`)."""
    data = dict(data)
    if isinstance(data.get("keymap"), dict):
        data["keymap"] = _tables(data["keymap"], "keymap")
    if isinstance(data.get("contexts"), dict):
        contexts = {}
        for name, ctx in data["contexts"].items():
            if isinstance(ctx, dict) and isinstance(ctx.get("client_properties"), dict):
                props = _tables(ctx["client_properties"], f"contexts.{name}.client_properties")
                ctx = {**ctx, "client_properties": props}
            contexts[name] = _convert(ctx, ContextConfig, f"contexts.{name}")
        data["contexts"] = contexts
    return _convert(data, NexusSettings, "")


def load_settings() -> NexusSettings:
    """The settings from, in order of precedence: NEXUS_TUI_ env vars, `.env`, the TOML file."""
    if not configured():
        return NexusSettings()
    from core.config.sources import read_sources

    return settings_from(read_sources(config_path(), Path(".env")))

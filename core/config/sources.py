"""The configuration's sources, merged into one dict for `contexts.settings_from`: the TOML
file (`config_path`), then a `.env` file in the working directory, then NEXUS_TUI_ env vars,
each later one overriding the earlier key by key.

Env var names are read in any case and lowered; `__` nests (NEXUS_TUI_CONTEXTS__PROD__BOOTSTRAP
is `contexts.prod.bootstrap`); a value for a table (NEXUS_TUI_KEYMAP, a context, its
client_properties) is JSON. Names that are no setting (NEXUS_TUI_CONFIG, NEXUS_TUI_VERBOSE)
are left alone. Imported only when one of the sources is there (`contexts.configured`).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.config.contexts import ENV_PREFIX, NexusSettings
from core.errors import ConfigError


def _is_table(path: list[str]) -> bool:
    """Whether the setting at `path` is a table (its env value is JSON)."""
    if path[0] == "contexts":
        return len(path) <= 2 or (len(path) == 3 and path[2] == "client_properties")
    return path == ["keymap"]


def from_env(pairs: Iterable[tuple[str, str | None]], source: str) -> dict[str, Any]:
    """The settings named by NEXUS_TUI_ variables among `pairs`, nested."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if value is None or not key.upper().startswith(ENV_PREFIX):
            continue
        path = key[len(ENV_PREFIX):].lower().split("__")
        if path[0] not in NexusSettings.__struct_fields__ or not all(path):
            continue
        if _is_table(path):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ConfigError(f"{key} in {source} is not a JSON object: {exc}") from None
        merge(out, _nest(path, value))
    return out


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into `base` (in place): tables key by key, anything else replaced."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def read_sources(config_file: Path, dotenv_file: Path) -> dict[str, Any]:
    """The TOML file, `.env` and the environment, merged (the environment wins)."""
    data: dict[str, Any] = {}
    if config_file.exists():
        try:
            with config_file.open("rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ConfigError(f"cannot read configuration {config_file}: {reason}") from None
    if dotenv_file.exists():
        from dotenv import dotenv_values

        merge(data, from_env(dotenv_values(dotenv_file).items(), str(dotenv_file)))
    return merge(data, from_env(os.environ.items(), "the environment"))

"""The configuration's sources read by pydantic-settings: NEXUS_TUI_ env vars (nested keys
with `__`), a `.env` file in the working directory and the TOML file (`config_path`).
Imported only when one of them is there (`contexts.configured`)."""

from __future__ import annotations

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.config.contexts import ENV_PREFIX, NexusSettings, config_path


class SourcedSettings(BaseSettings, NexusSettings):
    """NexusSettings, its fields read from the sources."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", env_file=".env", extra="ignore",
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path())
        return init_settings, env_settings, dotenv_settings, toml, file_secret_settings


def settings_from_sources() -> NexusSettings:
    return SourcedSettings()

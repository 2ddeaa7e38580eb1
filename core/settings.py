"""Connection settings, built once and handed to every Kafka client of the core.

`ConnectionSettings` holds what every client needs (bootstrap, security, raw client
properties, read-only); it renders itself for confluent-kafka (librdkafka) and for aiokafka.
Secrets are `SecretStr`: they never show in repr, logs or JSON.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from core.errors import ConfigError, ReadOnlyError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


class ConnectionSettings(BaseModel):
    """How to reach one Kafka cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap: str = Field("127.0.0.1:9092", description="host:port[,host:port...]")
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = Field(None, description="CA certificate (PEM) file")
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    client_properties: dict[str, str] = Field(
        default_factory=dict, description="raw librdkafka properties (-X key=value)"
    )
    read_only: bool = Field(False, description="refuse publish, dispatch and seek")
    request_timeout_s: float = Field(10.0, description="bound on any one admin round trip")

    @classmethod
    def of(cls, brokers: str | ConnectionSettings, **kw: Any) -> ConnectionSettings:
        if isinstance(brokers, ConnectionSettings):
            return brokers.model_copy(update=kw) if kw else brokers
        if not brokers or not brokers.strip():
            raise ConfigError("no bootstrap servers given (host:port)")
        return cls(bootstrap=brokers.strip(), **kw)

    def check_writable(self, action: str) -> None:
        """Raise before any request is sent when this connection is read-only."""
        if self.read_only:
            raise ReadOnlyError(f"{action} refused: the connection is read-only")

    def confluent_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka configuration (confluent-kafka), raw properties applied last."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        for key, value in (
            ("ssl.ca.location", self.ssl_ca_location),
            ("ssl.certificate.location", self.ssl_certificate_location),
            ("ssl.key.location", self.ssl_key_location),
        ):
            if value:
                conf[key] = value
        if self.ssl_key_password is not None:
            conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        conf.update(extra)
        conf.update(self.client_properties)
        return conf

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients."""
        kw: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            kw["sasl_mechanism"] = self.sasl_mechanism
            kw["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                kw["sasl_plain_password"] = self.sasl_password.get_secret_value()
        if self.security_protocol in ("SSL", "SASL_SSL"):
            ctx = ssl.create_default_context(cafile=self.ssl_ca_location)
            if self.ssl_certificate_location:
                key_pw = self.ssl_key_password
                password = key_pw.get_secret_value() if key_pw else None
                ctx.load_cert_chain(self.ssl_certificate_location, self.ssl_key_location, password)
            kw["ssl_context"] = ctx
        return kw


def parse_properties(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`key=value` strings (the CLI's -X) to a dict, with a clear error for a malformed one."""
    props: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"client property {pair!r} is not key=value")
        props[key.strip()] = value.strip()
    return props

"""Connection settings, built once and handed to every Kafka client of the core.

`ConnectionSettings` holds what every client needs (bootstrap, security, raw client
properties, read-only); it renders itself for confluent-kafka (librdkafka) and for aiokafka.
Secrets are `Secret`s: they never show in repr, logs or JSON.

The models are msgspec Structs: the configuration is checked when it is converted into them
(`core/config/contexts.py`), and code that builds one is checked by `__post_init__`. msgspec
is already the wire codec and loads quickly; pydantic and its models were the largest part of
the TUI engine's start before its first answer (BENCHMARKS.md §10).

SASL/OAUTHBEARER comes in two forms (docs/SECURITY.md): OIDC client credentials
(`sasl_oauthbearer_method="oidc"`: librdkafka fetches tokens itself; aiokafka clients get
them from `OidcTokenProvider`, the same grant) and Amazon MSK IAM (`msk_iam_region`: tokens
signed by `aws-msk-iam-sasl-signer-python`, the optional `msk-iam` extra).
"""

from __future__ import annotations

import ssl
from typing import Any, Literal, get_args

import msgspec

from core.config.request import parse_properties as parse_properties  # the -X syntax
from core.config.secret import Secret
from core.errors import ConfigError, ReadOnlyError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
OAuthMethod = Literal["default", "oidc"]


class ConnectionFields(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The fields of a connection to one Kafka cluster, unchecked: `ConnectionSettings` checks
    and uses them; a configured context (core/config/contexts.py) derives from them too."""

    #: host:port[,host:port...]
    bootstrap: str = "127.0.0.1:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    #: the CA certificate (PEM) file
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: Secret | None = None
    #: oidc: OAuth client-credentials tokens from the token endpoint
    sasl_oauthbearer_method: OAuthMethod | None = None
    sasl_oauthbearer_token_endpoint_url: str | None = None
    sasl_oauthbearer_client_id: str | None = None
    sasl_oauthbearer_client_secret: Secret | None = None
    sasl_oauthbearer_scope: str | None = None
    #: SASL extensions, key=value,key=value (e.g. logicalCluster=lkc-1)
    sasl_oauthbearer_extensions: str | None = None
    #: an AWS region: authenticate to Amazon MSK with IAM (the msk-iam extra)
    msk_iam_region: str | None = None
    #: raw librdkafka properties (-X key=value)
    client_properties: dict[str, str] = {}
    #: refuse publish, dispatch, seek and every admin write
    read_only: bool = False
    #: the bound on any one admin round trip
    request_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in SECRET_FIELDS:  # a secret given as text, as code builds one, is wrapped
            if isinstance(value := getattr(self, name), str):
                msgspec.structs.force_setattr(self, name, Secret(value))


SECRET_FIELDS = ("sasl_password", "ssl_key_password", "sasl_oauthbearer_client_secret")
#: the fields of a connection, by name (what a context hands on to its ConnectionSettings)
CONNECTION_FIELDS: tuple[str, ...] = ConnectionFields.__struct_fields__

#: the fields with a fixed set of values, and the values
CHOICES: dict[str, tuple[str | None, ...]] = {"security_protocol": get_args(SecurityProtocol),
            "sasl_mechanism": (None, *get_args(SaslMechanism)),
            "sasl_oauthbearer_method": (None, *get_args(OAuthMethod))}


def one_of(name: str) -> str:
    """The values field `name` may take, for an error message."""
    return "one of " + ", ".join(str(c) for c in CHOICES[name] if c is not None)


class ConnectionSettings(ConnectionFields, frozen=True, kw_only=True):
    """How to reach one Kafka cluster: the fields, checked, frozen, rendered for each client."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise ConfigError(f"bad connection settings: {name} is "
                                  f"{getattr(self, name)!r}, not {one_of(name)}")
        if self.request_timeout_s <= 0:
            raise ConfigError("bad connection settings: request_timeout_s must be > 0, not "
                              f"{self.request_timeout_s}")
        if self.msk_iam_region is not None:
            if self.sasl_mechanism not in (None, "OAUTHBEARER"):
                raise ConfigError("bad connection settings: msk_iam_region authenticates with "
                                  f"OAUTHBEARER, not {self.sasl_mechanism}")
            if self.sasl_oauthbearer_method == "oidc":
                raise ConfigError("bad connection settings: use msk_iam_region or "
                                  "sasl_oauthbearer_method=oidc, not both")
        if self.sasl_oauthbearer_method == "oidc":
            missing = [name for name in ("token_endpoint_url", "client_id", "client_secret")
                       if getattr(self, f"sasl_oauthbearer_{name}") is None]
            if missing:
                raise ConfigError("bad connection settings: sasl_oauthbearer_method=oidc needs "
                                  + ", ".join(f"sasl_oauthbearer_{m}" for m in missing))

    def replace(self, **changes: Any) -> ConnectionSettings:
        """A copy with `changes` applied, checked again."""
        return msgspec.structs.replace(self, **changes)

    @property
    def oauthbearer(self) -> bool:
        return self.sasl_mechanism == "OAUTHBEARER" or self.msk_iam_region is not None

    @classmethod
    def of(
        cls, brokers: str | list[str] | tuple[str, ...] | ConnectionSettings, **kw: Any
    ) -> ConnectionSettings:
        """Settings from a bootstrap string ("h:9092,h2:9092"), a list of "host:port" (as
        aiokafka and kafka-python take them) or settings; anything else is a ConfigError."""
        if isinstance(brokers, ConnectionSettings):
            return brokers.replace(**kw) if kw else brokers
        if isinstance(brokers, list | tuple):
            if not all(isinstance(b, str) and b.strip() and "," not in b for b in brokers):
                raise ConfigError(f"bootstrap servers must be \"host:port\" strings, got "
                                  f"{brokers!r}")
            brokers = ",".join(b.strip() for b in brokers)
        if not isinstance(brokers, str):
            raise ConfigError("bootstrap servers must be \"host:port[,host:port...]\", a list "
                              "of \"host:port\" or ConnectionSettings, not "
                              f"{type(brokers).__name__}")
        if not brokers.strip():
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
        if self.msk_iam_region is not None:
            conf["sasl.mechanism"] = "OAUTHBEARER"
            from core.config.oauth import MskIamTokens  # aws signer: an optional extra

            conf["oauth_cb"] = MskIamTokens(self.msk_iam_region).for_librdkafka
        elif self.sasl_oauthbearer_method == "oidc":
            secret = self.sasl_oauthbearer_client_secret
            conf.update({
                "sasl.oauthbearer.method": "oidc",
                "sasl.oauthbearer.token.endpoint.url": self.sasl_oauthbearer_token_endpoint_url,
                "sasl.oauthbearer.client.id": self.sasl_oauthbearer_client_id,
                "sasl.oauthbearer.client.secret": secret.get_secret_value() if secret else "",
            })
            if self.sasl_oauthbearer_scope:
                conf["sasl.oauthbearer.scope"] = self.sasl_oauthbearer_scope
            if self.sasl_oauthbearer_extensions:
                conf["sasl.oauthbearer.extensions"] = self.sasl_oauthbearer_extensions
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
        from core.config.oauth import MskIamTokens, OidcTokenProvider  # aiokafka: on demand

        if self.msk_iam_region is not None:
            kw["sasl_mechanism"] = "OAUTHBEARER"
            kw["sasl_oauth_token_provider"] = MskIamTokens(self.msk_iam_region).aiokafka()
        elif self.sasl_mechanism == "OAUTHBEARER":
            kw["sasl_mechanism"] = "OAUTHBEARER"
            if self.sasl_oauthbearer_method != "oidc":
                raise ConfigError("OAUTHBEARER for the aiokafka clients (subscriber, "
                                  "dispatch, messages) needs sasl_oauthbearer_method=oidc or "
                                  "msk_iam_region")
            kw["sasl_oauth_token_provider"] = OidcTokenProvider.of(self)
        elif self.sasl_mechanism:
            kw["sasl_mechanism"] = self.sasl_mechanism
            kw["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                kw["sasl_plain_password"] = self.sasl_password.get_secret_value()
        if self.security_protocol in ("SSL", "SASL_SSL"):
            try:
                ctx = ssl.create_default_context(cafile=self.ssl_ca_location)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise ConfigError(f"cannot load the CA file {self.ssl_ca_location}: "
                                  f"{getattr(exc, 'strerror', None) or exc}") from None
            if self.ssl_certificate_location:
                key_pw = self.ssl_key_password
                password = key_pw.get_secret_value() if key_pw else None
                try:
                    ctx.load_cert_chain(self.ssl_certificate_location, self.ssl_key_location,
                                        password)
                except (OSError, ValueError) as exc:
                    raise ConfigError(
                        f"cannot load the client certificate {self.ssl_certificate_location} "
                        f"and key {self.ssl_key_location} (wrong ssl_key_password?): "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
            kw["ssl_context"] = ctx
        return kw

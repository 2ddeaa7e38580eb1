"""SASL/OAUTHBEARER tokens: OIDC client credentials and Amazon MSK IAM.

librdkafka fetches OIDC tokens itself; aiokafka clients get them from `OidcTokenProvider`
(the same grant). MSK IAM tokens are signed by `aws-msk-iam-sasl-signer-python` (the
optional `msk-iam` extra). `ConnectionSettings` imports this module only when a connection
uses OAUTHBEARER, so the common paths do not load aiokafka or urllib.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from aiokafka.abc import AbstractTokenProvider

from core.config.secret import Secret
from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config.settings import ConnectionSettings

#: Renew a cached token this long before it expires.
TOKEN_MARGIN_S = 60.0


def _extensions(text: str | None) -> dict[str, str]:
    pairs = (item.partition("=") for item in (text or "").split(",") if item.strip())
    return {k.strip(): v.strip() for k, _, v in pairs}


class OidcTokens:
    """OAuth 2 client-credentials tokens from a token endpoint (RFC 6749 §4.4), cached until
    shortly before they expire. librdkafka does the same grant itself (`method=oidc`); this
    one serves the aiokafka clients. The secret goes in the Authorization header only."""

    def __init__(self, url: str, client_id: str, client_secret: Secret,
                 scope: str | None = None, timeout_s: float = 10.0) -> None:
        self.url = url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._token: tuple[str, float] | None = None  # (token, expires at, epoch seconds)

    def get(self) -> tuple[str, float]:
        """(token, expiry in epoch seconds); blocking (call it from a thread)."""
        with self._lock:
            if self._token is None or time.time() > self._token[1] - TOKEN_MARGIN_S:
                self._token = self._fetch()
            return self._token

    def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        basic = base64.b64encode(
            f"{urllib.parse.quote(self.client_id)}:"
            f"{urllib.parse.quote(self._secret.get_secret_value())}".encode()).decode()
        request = urllib.request.Request(
            self.url, data=urllib.parse.urlencode(form).encode(), method="POST",
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json",
                     "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = json.loads(response.read())
            token = body["access_token"]
            lifetime = float(body.get("expires_in", 300))
        except (OSError, ValueError, KeyError, TypeError) as exc:  # HTTPError is an OSError
            raise ConfigError(f"no OAuth token from {self.url}: "
                              f"{getattr(exc, 'reason', None) or exc}") from None
        return str(token), time.time() + lifetime


class OidcTokenProvider(AbstractTokenProvider):
    """aiokafka's token provider over `OidcTokens`."""

    def __init__(self, tokens: OidcTokens, extensions: dict[str, str] | None = None) -> None:
        self.tokens = tokens
        self._extensions = extensions or {}

    @classmethod
    def of(cls, settings: ConnectionSettings) -> OidcTokenProvider:
        assert settings.sasl_oauthbearer_token_endpoint_url is not None
        assert settings.sasl_oauthbearer_client_id is not None
        assert settings.sasl_oauthbearer_client_secret is not None
        return cls(OidcTokens(settings.sasl_oauthbearer_token_endpoint_url,
                              settings.sasl_oauthbearer_client_id,
                              settings.sasl_oauthbearer_client_secret,
                              settings.sasl_oauthbearer_scope),
                   _extensions(settings.sasl_oauthbearer_extensions))

    async def token(self) -> str:
        return (await asyncio.to_thread(self.tokens.get))[0]

    def extensions(self) -> dict[str, str]:
        return dict(self._extensions)


class MskIamTokens:
    """Amazon MSK IAM auth tokens (SigV4-signed, from the default AWS credential chain) by
    `aws-msk-iam-sasl-signer-python`, installed with `pip install 'nexus-tui[msk-iam]'`."""

    def __init__(self, region: str) -> None:
        try:
            from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
        except ImportError:
            raise ConfigError("msk_iam_region needs the msk-iam extra: "
                              "pip install 'nexus-tui[msk-iam]'") from None
        self.region = region
        self._provider = MSKAuthTokenProvider

    def get(self) -> tuple[str, float]:
        token, expiry_ms = self._provider.generate_auth_token(self.region)
        return token, expiry_ms / 1000

    def for_librdkafka(self, _config: str) -> tuple[str, float]:
        """confluent-kafka's `oauth_cb`: (token, expiry in epoch seconds)."""
        return self.get()

    def aiokafka(self) -> AbstractTokenProvider:
        return _MskIamTokenProvider(self)


class _MskIamTokenProvider(AbstractTokenProvider):
    def __init__(self, tokens: MskIamTokens) -> None:
        self.tokens = tokens

    async def token(self) -> str:
        return (await asyncio.to_thread(self.tokens.get))[0]

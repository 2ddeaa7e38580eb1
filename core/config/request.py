"""A connection as the command line asks for it, before the configuration is read.

`ConnectionRequest` is plain data: the TUI's process hands it to its engine child before either
has read the configuration, and each process resolves it when it needs the settings. The child
does so at once, to read the cluster's metadata for the first view; the UI does so once that
view is painted, so that reading and checking the configuration is not on the way to the
first frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from msgspec import Struct

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config.contexts import NexusSettings
    from core.config.settings import ConnectionSettings


def key_values(pairs: Iterable[str], what: str, form: str = "key=value") -> dict[str, str]:
    """`key=value` strings to a dict (a later one for the same key wins), with one clear line
    for a malformed one: "<what> 'x' is not <form>"."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} {pair!r} is not {form}")
        out[key.strip()] = value.strip()
    return out


def parse_properties(pairs: Iterable[str]) -> dict[str, str]:
    """The CLI's -X `key=value` librdkafka properties."""
    return key_values(pairs, "client property")


class ConnectionRequest(Struct, frozen=True):
    """The connection options as given: a context (else the configured current one), then
    -b, -X, --read-only and --timeout on top of it."""

    bootstrap: str | None = None
    context: str | None = None
    properties: tuple[str, ...] = ()
    read_only: bool = False
    #: --timeout: replaces the context's request_timeout_s
    timeout_s: float | None = None
    #: an upper bound on the resolved request_timeout_s (the TUI keeps its refreshes short)
    max_timeout_s: float | None = None

    def __post_init__(self) -> None:
        parse_properties(self.properties)  # a malformed -X is refused before anything starts

    def resolve(self, settings: NexusSettings | None = None) -> tuple[str, ConnectionSettings]:
        """(the context's name, the checked settings). `settings`: the configuration when the
        caller has read it already. Raises ConfigError with one readable line."""
        from core.config.contexts import load_settings

        settings = settings or load_settings()
        name, ctx = settings.context(self.context)
        props = dict(ctx.client_properties)
        props.update(parse_properties(self.properties))
        conn = ctx.connection(bootstrap=self.bootstrap.strip() if self.bootstrap else None,
                              request_timeout_s=self.timeout_s)
        update: dict[str, object] = {
            "client_properties": props, "read_only": conn.read_only or self.read_only}
        if self.max_timeout_s is not None:
            update["request_timeout_s"] = min(conn.request_timeout_s, self.max_timeout_s)
        return name, conn.replace(**update)

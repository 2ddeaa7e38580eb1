"""Open the TUI from the command line: settings from config + flags, contexts for `:ctx`."""

from __future__ import annotations

from functools import partial

from core.config.contexts import load_settings
from core.config.settings import ConnectionSettings
from nexus_tui.cli.connection import connection_from


def launch_tui(bootstrap: str | None, context: str | None, properties: tuple[str, ...],
               read_only: bool, refresh: float | None) -> None:
    from nexus_tui.app import AppOptions, run_tui

    settings = load_settings()
    name, _ = settings.context(context)
    conn = connection_from(bootstrap, context, properties, read_only, None)
    conn = conn.model_copy(update={"request_timeout_s": min(conn.request_timeout_s, 5.0)})

    def make(ctx_name: str) -> ConnectionSettings:
        return connection_from(None, ctx_name, properties, read_only, 5.0)

    options = AppOptions(
        context=name if not bootstrap else f"{name} (-b)",
        refresh_interval_s=settings.refresh_interval_s if refresh is None else refresh,
        read_only=conn.read_only, keymap=dict(settings.keymap),
        reply_topic=settings.reply_topic,
        contexts={n: partial(make, n) for n in settings.contexts},
    )
    run_tui(conn, options.context, options)

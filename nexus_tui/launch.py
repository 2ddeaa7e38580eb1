"""Open the TUI from the command line: settings from config + flags, contexts for `:ctx`."""

from __future__ import annotations

from functools import partial


def launch_tui(bootstrap: str | None, context: str | None, properties: tuple[str, ...],
               read_only: bool, refresh: float | None) -> None:
    """The engine child is started first, before the configuration is read: its interpreter
    starts and imports while this process reads the settings and imports the UI; it then
    reads the cluster's metadata, which the first view shows as soon as it is up."""
    from core.engine import ENGINE_MODULE
    from core.engine.child import start_early, stop_early
    from nexus_tui.coreloop import CoreLoop

    core = CoreLoop()
    core.call_soon(start_early, ENGINE_MODULE)

    from core.config.contexts import load_settings
    from core.config.settings import ConnectionSettings
    from nexus_tui.cli.connection import connection_from
    from nexus_tui.source import LiveSource

    try:
        settings = load_settings()
        name, _ = settings.context(context)
        conn = connection_from(bootstrap, context, properties, read_only, None, settings)
    except BaseException:  # bad settings: the child started ahead is not needed
        core.submit(stop_early()).result(10)
        core.stop()
        raise
    conn = conn.model_copy(update={"request_timeout_s": min(conn.request_timeout_s, 5.0)})
    source = LiveSource(conn, core)
    source.start()  # the engine reads the metadata while the UI is imported and built

    from nexus_tui.app import AppOptions, run_tui

    def make(ctx_name: str) -> ConnectionSettings:
        return connection_from(None, ctx_name, properties, read_only, 5.0)

    options = AppOptions(
        context=name if not bootstrap else f"{name} (-b)",
        refresh_interval_s=settings.refresh_interval_s if refresh is None else refresh,
        read_only=conn.read_only, keymap=dict(settings.keymap),
        reply_topic=settings.reply_topic,
        contexts={n: partial(make, n) for n in settings.contexts},
    )
    run_tui(conn, options.context, options, source)

"""Open the TUI from the command line: the engine first, the configuration after the first view.

The first view waits on nothing but the UI's own imports and the engine's first answer (the
cluster's metadata). The configuration is read twice, each time where it is needed:

* the engine child resolves the command line's `ConnectionRequest` itself, as it starts, to
  read the metadata (a bad configuration is then that answer's one-line error);
* this process resolves it once the first view is painted (`NexusApp.configure`), for the
  app's options (context, read-only, keymap, refresh period, reply topic, other contexts) and
  the settings its own clients use (dispatch, seek, administration). Until then every write is
  refused; a bad configuration ends the app with one line and a non-zero exit.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from core.config.request import ConnectionRequest

if TYPE_CHECKING:
    from core.config.settings import ConnectionSettings
    from nexus_tui.app import AppOptions
    from nexus_tui.source import LiveSource

#: the longest request_timeout_s of the TUI's connections: a refresh that waits on a broker
#: that does not answer keeps the view stale for six of them (core/engine/process.py)
TUI_MAX_TIMEOUT_S = 5.0


def launch_tui(bootstrap: str | None, context: str | None, properties: tuple[str, ...],
               read_only: bool, refresh: float | None) -> None:
    """The engine child is started first: its interpreter starts, resolves the connection and
    reads the cluster's metadata while this process imports and builds the UI.

    No cyclic collection until the first view is painted (NexusApp turns the collector on
    then; this function, on its way out, whatever ended it): what the start allocates is
    modules, classes, styles and widgets that live as long as the app, and a full collection
    walking them delayed the first frame (BENCHMARKS.md §10)."""
    gc.disable()
    try:
        _launch(bootstrap, context, properties, read_only, refresh)
    finally:
        gc.enable()


def _launch(bootstrap: str | None, context: str | None, properties: tuple[str, ...],
            read_only: bool, refresh: float | None) -> None:
    from core.engine import ENGINE_MODULE
    from core.engine.spawn import start_early, stop_early

    request = ConnectionRequest(bootstrap, context, tuple(properties), read_only,
                                max_timeout_s=TUI_MAX_TIMEOUT_S)  # a bad -X: refused here
    start_early(ENGINE_MODULE)  # before asyncio, the core loop and the UI are even imported
    try:
        from nexus_tui.coreloop import CoreLoop
        from nexus_tui.source import LiveSource

        core = CoreLoop()
        source = LiveSource(request, core)
        source.start()  # the engine reads the metadata while the UI is imported and built
    except BaseException:
        stop_early()
        raise

    from nexus_tui.app import AppOptions, run_tui

    known = AppOptions(context=_context_label(request), read_only=read_only,
                       refresh_interval_s=5.0 if refresh is None else refresh)
    try:
        run_tui(source=source, options=known,
                configure=partial(configure, request, source, refresh))
    finally:  # the app ended before its engine took the child started for it
        stop_early()


def _context_label(request: ConnectionRequest, name: str | None = None) -> str:
    label = name or request.context or "…"
    return f"{label} (-b)" if request.bootstrap else label


def configure(request: ConnectionRequest, source: LiveSource,
              refresh: float | None) -> AppOptions:
    """The app's options from the configuration, and the source's settings resolved (raises
    ConfigError with one readable line)."""
    from core.cluster.audit import set_context as set_audit_context
    from core.config.contexts import load_settings
    from nexus_tui.app import AppOptions

    settings = load_settings()
    name, conn = request.resolve(settings)
    set_audit_context(name)  # the audit log names the context of every change
    source.settle(conn)
    return AppOptions(
        context=_context_label(request, name),
        refresh_interval_s=settings.refresh_interval_s if refresh is None else refresh,
        read_only=conn.read_only, keymap=dict(settings.keymap),
        reply_topic=settings.reply_topic,
        contexts={n: _other_context(request, n) for n in settings.contexts},
    )


def _other_context(request: ConnectionRequest, name: str) -> Callable[[], ConnectionSettings]:
    """`:ctx name`: that context's settings, with this command line's -X and --read-only."""
    other = ConnectionRequest(None, name, request.properties, request.read_only,
                              max_timeout_s=TUI_MAX_TIMEOUT_S)
    return lambda: other.resolve()[1]

"""The `nexus-tui` command line: the TUI by default, headless commands with --json."""

from __future__ import annotations

import sys
import traceback
from importlib import import_module
from pathlib import Path

import click

from core.errors import NexusError
from nexus_tui.cli.options import check_applicable, group_connection_options, quiet_client_logs
from nexus_tui.cli.output import fail

#: command name -> "module:attribute". A command's module (and what it needs: aiokafka, the
#: admin client, the demo...) is imported only when that command runs, so `nexus-tui groups`
#: does not pay for the others' imports (BENCHMARKS.md §4).
COMMANDS = {
    "local": "nexus_tui.cli.local:local",
    "topics": "nexus_tui.cli.ops:topics",
    "topic": "nexus_tui.cli.admin:topic",  # ops.topic with the admin subcommands
    "groups": "nexus_tui.cli.ops:groups",
    "group": "nexus_tui.cli.admin:group",  # ops.group with the admin subcommands
    "dispatch": "nexus_tui.cli.ops:dispatch",
    "messages": "nexus_tui.cli.messages:messages",
    "errors": "nexus_tui.cli.errors:errors",
    "seek": "nexus_tui.cli.seek:seek",
    "audit": "nexus_tui.cli.audit:audit",
    "demo": "nexus_tui.cli.demo:demo",
    "exporter": "nexus_tui.cli.exporter:exporter",
    "health": "nexus_tui.cli.health:health",
    "dlq": "nexus_tui.cli.dlq:dlq",
}


class NexusGroup(click.Group):
    """Turns every error into one readable line and a non-zero exit, never a traceback.

    Subcommands in :data:`COMMANDS` are loaded on first use (click's lazy-group pattern).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in COMMANDS:
            return found
        module, _, attr = COMMANDS[cmd_name].partition(":")
        command = getattr(import_module(module), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        return command

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BaseException as exc:
            with ctx:
                report_failure(exc)


def report_failure(exc: BaseException) -> None:
    """A failure of a command or of the dashboard as one readable line and a non-zero exit;
    the traceback of a bug of ours goes to a file the line names, never on screen."""
    if isinstance(exc, NexusError):
        fail(str(exc))
    if isinstance(exc, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(130)
    if not isinstance(exc, Exception):  # GeneratorExit and the like: not ours to report
        raise exc
    log = _crash_log()
    log.write_text("".join(traceback.format_exception(exc)))
    fail(f"internal error: {type(exc).__name__}: {exc} (details in {log})")


def _crash_log() -> Path:
    from core.local.cluster import default_state_dir

    path = default_state_dir().parent / "last-error.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@click.group(cls=NexusGroup, invoke_without_command=True)
@click.version_option(package_name="nexus-tui")
@group_connection_options
@click.option("--refresh", type=click.FloatRange(0, 3600), default=None,
              help="Auto-refresh period in seconds (0: manual; default from config, 5).")
@click.pass_context
def cli(ctx: click.Context, bootstrap: str | None, context: str | None,
        properties: tuple[str, ...], read_only: bool, timeout_s: float | None, as_json: bool,
        verbose: bool, refresh: float | None) -> None:
    """nexus-tui: see and operate Kafka/Redpanda clusters that carry Nexus traffic.

    Without a command it opens the dashboard (the TUI) on the chosen cluster. The connection
    options work before or after a command's name; given in both places, the one after the
    name wins (--read-only anywhere is read-only)."""
    check_applicable(ctx)
    quiet_client_logs(ctx, verbose)
    if ctx.invoked_subcommand is None:
        from nexus_tui.launch import launch_tui

        launch_tui(bootstrap, context, properties, read_only, refresh)


"""The `nexus-tui` command line: the TUI by default, headless commands with --json."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from core.errors import NexusError
from nexus_tui.cli.local import local
from nexus_tui.cli.ops import dispatch, group, groups, topic_describe, topics
from nexus_tui.cli.output import fail


class NexusGroup(click.Group):
    """Turns every error into one readable line and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except NexusError as exc:
            with ctx:
                fail(str(exc))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug of ours: keep the traceback out of the user's face
            log = _crash_log()
            log.write_text(traceback.format_exc())
            with ctx:
                fail(f"internal error: {type(exc).__name__}: {exc} (details in {log})")


def _crash_log() -> Path:
    from core.local.cluster import default_state_dir

    path = default_state_dir().parent / "last-error.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@click.group(cls=NexusGroup, invoke_without_command=True)
@click.version_option(package_name="nexus-tui")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """nexus-tui: see and operate Kafka/Redpanda clusters that carry Nexus traffic."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


cli.add_command(local)
cli.add_command(topics)
cli.add_command(groups)
cli.add_command(group)
cli.add_command(dispatch)


@cli.group("topic")
def topic() -> None:
    """One topic."""


topic.add_command(topic_describe)


def main() -> None:
    cli(prog_name="nexus-tui")

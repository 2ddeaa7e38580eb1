"""`nexus-tui demo`: the dashboard on a real local cluster carrying live Nexus traffic."""

from __future__ import annotations

import sys

import click

from core.errors import NexusError
from nexus_tui.cli.output import fail, json_option
from nexus_tui.demo.runner import DemoOptions, run_demo


def _out(line: str) -> None:
    click.echo(line)  # click.echo flushes: a reader of the pipe sees each line at once


def _progress(line: str) -> None:
    click.echo(line, err=True)


@click.command()
@click.option("--brokers", type=click.Choice(["1", "3"]), default="1", show_default=True,
              help="Broker+controller nodes of the demo cluster.")
@click.option("--rate", type=click.FloatRange(5, 5000), default=100.0, show_default=True,
              help="Approximate total demo traffic, in messages per second.")
@click.option("--no-tui", is_flag=True, default=False,
              help="Run the cluster and the services only, until Ctrl+C or SIGTERM.")
@click.option("--quiet", "-q", is_flag=True, default=False,
              help="No progress or status lines (the bootstrap line is still printed).")
@json_option
def demo(brokers: str, rate: float, no_tui: bool, quiet: bool, as_json: bool) -> None:
    """A real local Kafka cluster with live Nexus traffic, and the dashboard on it.

    Starts Apache Kafka (KRaft) in its own state dir on free ports, creates the demo topics,
    runs demo services (request/reply, a conversation with child requests, events and error
    replies, a slow consumer, a flaky handler with retries and a dead-letter topic, and
    traffic with a hot partition), then opens the dashboard. Quitting it, Ctrl+C or SIGTERM
    stops everything the demo started.
    """
    options = DemoOptions(brokers=int(brokers), rate=rate, tui=not no_tui, quiet=quiet,
                          as_json=as_json)
    try:
        code = run_demo(options, out=_out, progress=_progress)
    except NexusError as exc:
        fail(str(exc))
    sys.exit(code)

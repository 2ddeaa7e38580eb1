"""`nexus-tui local up|status|down`: the real local Apache Kafka cluster."""

from __future__ import annotations

import time
from dataclasses import asdict

import click

from core.local import KAFKA_VERSION, LocalCluster, ensure_jars
from nexus_tui.cli.output import emit, json_mode, json_option


def _progress(message: str) -> None:
    if not json_mode():
        click.echo(message, err=True)


@click.group()
def local() -> None:
    """A real local Apache Kafka cluster (KRaft), run from the official jars."""


@local.command()
@click.option("--brokers", type=click.Choice(["1", "3"]), default="1", show_default=True,
              help="Number of broker+controller nodes.")
@click.option("--port", type=click.IntRange(1, 65535 - 6), default=None,
              help="First port (brokers P.., controllers after them); free ports if omitted.")
@click.option("--timeout", type=float, default=90.0, show_default=True,
              help="Seconds to wait for every broker to answer.")
@json_option
def up(brokers: str, port: int | None, timeout: float, as_json: bool) -> None:
    """Format fresh storage, start the brokers detached, wait until all of them answer."""
    started = time.monotonic()
    state = LocalCluster(progress=_progress).up(int(brokers), port, timeout=timeout)
    took = time.monotonic() - started
    emit(
        {"bootstrap": state.bootstrap, "brokers": [asdict(b) for b in state.brokers],
         "cluster_id": state.cluster_id, "kafka_version": state.kafka_version,
         "data_dir": state.data_dir, "seconds": round(took, 2)},
        f"local Kafka {state.kafka_version} up in {took:.1f} s: {len(state.brokers)} broker(s)\n"
        f"bootstrap servers: {state.bootstrap}",
    )


@local.command()
@json_option
def fetch(as_json: bool) -> None:
    """Fetch Apache Kafka's jars with Maven into the per-user cache (once, then reused)."""
    libs = ensure_jars(progress=_progress)
    emit({"kafka_version": KAFKA_VERSION, "jars": str(libs)},
         f"Apache Kafka {KAFKA_VERSION} jars in {libs}")


@local.command()
@json_option
def status(as_json: bool) -> None:
    """Show the local cluster's brokers, processes and whether it answers."""
    st = LocalCluster().status()
    lines = [f"local Kafka {st.state.kafka_version}, cluster id {st.state.cluster_id}",
             f"bootstrap servers: {st.state.bootstrap}",
             f"data dir: {st.state.data_dir}"]
    for b in st.state.brokers:
        state = "running" if st.alive[b.node_id] else "NOT RUNNING"
        lines.append(f"  broker {b.node_id}: {b.bootstrap} pid {b.pid} {state}")
    answer = ("answers metadata with brokers " + ",".join(map(str, st.metadata_brokers))
              if st.metadata_brokers is not None else "does NOT answer metadata")
    lines.append(f"cluster {answer}")
    emit(
        {"bootstrap": st.state.bootstrap, "cluster_id": st.state.cluster_id,
         "healthy": st.healthy, "metadata_brokers": st.metadata_brokers,
         "brokers": [dict(asdict(b), running=st.alive[b.node_id]) for b in st.state.brokers]},
        "\n".join(lines),
    )


@local.command()
@json_option
def down(as_json: bool) -> None:
    """Stop every broker process of the local cluster and remove its data."""
    state = LocalCluster().down()
    emit({"stopped": [b.pid for b in state.brokers], "bootstrap": state.bootstrap},
         f"local Kafka at {state.bootstrap} stopped; removed {state.data_dir}")

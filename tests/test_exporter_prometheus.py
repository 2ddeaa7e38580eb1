"""deploy/ checked by Prometheus's own tools, and a real Prometheus server scraping the
exporter: lag read back through its HTTP API (/api/v1/query).

promtool and prometheus are built from the Go module proxy (`.ci/run` does it):
    go install github.com/prometheus/prometheus/cmd/promtool@v0.316.0
    go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.exporter_helpers import exporter_process
from tests.kafka_helpers import commit_offsets, create_topic, produce_counts, wait_until
from tests.test_exporter import _kafka_rows

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
PROMETHEUS_MODULE = "github.com/prometheus/prometheus/cmd/{}@v0.316.0"


def _go_bin() -> Path:
    go = shutil.which("go")
    if go:
        out = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip().split(os.pathsep)[0]) / "bin"
    return Path.home() / "go" / "bin"


def tool(name: str) -> str:
    """The path of promtool/prometheus, or a one-line failure saying how to install it."""
    found = shutil.which(name) or (str(_go_bin() / name) if (_go_bin() / name).exists()
                                   else None)
    if found is None:
        pytest.fail(f"{name} not found: go install {PROMETHEUS_MODULE.format(name)} "
                    "(.ci/run installs it)", pytrace=False)
    return found


def test_rules_and_scrape_config_pass_promtool():
    promtool = tool("promtool")
    for args in (["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
                 ["check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
                 ["test", "rules", str(DEPLOY / "prometheus" / "alerts_test.yml")]):
        out = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, (args, out.stdout, out.stderr)


def test_grafana_dashboard_queries_only_exported_metrics():
    from core.exporter.families import SPECS
    from core.exporter.traffic import SERIES

    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "nexus-tui.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    known = set(SPECS) | set(SERIES) | {"nexus_exporter_cluster_up",
                                        "nexus_exporter_collection_duration_seconds"}
    for expr in exprs:
        names = {w for w in _words(expr) if w.startswith(("kafka_", "nexus_"))}
        assert names and names <= known, expr


def _words(expr: str) -> list[str]:
    import re

    return re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", expr)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _query(base: str, promql: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


async def test_prometheus_scrapes_the_exporter_and_answers_lag_queries(kafka, unique, tmp_path):
    prometheus = tool("prometheus")
    create_topic(kafka.bootstrap, unique, partitions=3)
    produce_counts(kafka.bootstrap, unique, [12, 7, 3])
    commit_offsets(kafka.bootstrap, unique, {(unique, 0): 2, (unique, 1): 7, (unique, 2): 0})
    with exporter_process("-b", kafka.bootstrap, "--interval", "0.5", "--topics", f"^{unique}$",
                          "--groups", f"^{unique}$") as exp:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n  - job_name: nexus\n    static_configs:\n"
            f"      - targets: ['{exp.url.removeprefix('http://')}']\n")
        port = _free_port()
        log = (tmp_path / "prometheus.log").open("w")
        server = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            def ready() -> bool:
                assert server.poll() is None, (tmp_path / "prometheus.log").read_text()
                try:
                    with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as resp:
                        return resp.status == 200
                except (urllib.error.URLError, ConnectionError):
                    return False

            await wait_until(ready, 60, "Prometheus ready")
            promql = f'kafka_consumergroup_group_lag{{group="{unique}"}}'
            await wait_until(lambda: len(_query(base, promql)) == 3, 60,
                             "the lag series in Prometheus")
            theirs = _kafka_rows(kafka.bootstrap, unique)
            got = {int(r["metric"]["partition"]): float(r["value"][1])
                   for r in _query(base, promql)}
            assert got == {p: float(v[2]) for (_, p), v in theirs.items()} == {
                0: 10.0, 1: 0.0, 2: 3.0}
            total = _query(base, f'kafka_consumergroup_group_sum_lag{{group="{unique}"}}')
            assert [float(r["value"][1]) for r in total] == [13.0]
            assert total[0]["metric"]["cluster_name"] == kafka.bootstrap
            up = _query(base, f'nexus_exporter_cluster_up{{cluster_name="{kafka.bootstrap}"}}')
            assert [float(r["value"][1]) for r in up] == [1.0]
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
            log.close()

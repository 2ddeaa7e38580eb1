"""Run `nexus-tui exporter` (and klag-exporter, to compare) as real processes and read their
/metrics (tests and bench)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Scrape:
    series: Series
    took_s: float  # wall time of the HTTP request
    text: str = ""

    def values(self, name: str, **match: str) -> dict[tuple[tuple[str, str], ...], float]:
        """label tuples -> value of the samples of `name` whose labels include `match`."""
        return {labels: v for (n, labels), v in self.series.items()
                if n == name and all(dict(labels).get(k) == m for k, m in match.items())}

    def one(self, name: str, **match: str) -> float | None:
        found = self.values(name, **match)
        assert len(found) <= 1, found
        return next(iter(found.values()), None)


def parse(text: str) -> Series:
    out: Series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@dataclass
class ExporterProcess:
    proc: subprocess.Popen[str]
    url: str
    stderr_path: str

    def scrape(self, path: str = "/metrics") -> Scrape:
        started = time.perf_counter()
        with urllib.request.urlopen(self.url + path, timeout=5) as resp:
            body = resp.read().decode()
        took = time.perf_counter() - started
        return Scrape(parse(body), took, body)

    def healthz(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def stderr(self) -> str:
        with open(self.stderr_path) as f:
            return f.read()


@contextmanager
def exporter_process(*args: str, env: dict[str, str] | None = None,
                     timeout: float = 30) -> Iterator[ExporterProcess]:
    """Start the exporter on a free port; yield once it serves; SIGTERM it afterwards."""
    err = tempfile.NamedTemporaryFile("w+", suffix=".stderr", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus_tui", "exporter", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.DEVNULL, stderr=err, text=True, env=env or dict(os.environ))
    try:
        deadline = time.monotonic() + timeout
        url = None
        while url is None:
            text = open(err.name).read()
            found = re.search(r"serving (http://[\d.]+:\d+)/metrics", text)
            if found:
                url = found.group(1)
                break
            if proc.poll() is not None:
                raise AssertionError(f"exporter exited {proc.returncode}: {text}")
            assert time.monotonic() < deadline, f"exporter did not start: {text}"
            time.sleep(0.05)  # polling interval of the deadline-bounded start wait
        yield ExporterProcess(proc, url, err.name)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        os.unlink(err.name)


KLAG_INSTALL = "cargo install --locked klag-exporter@0.1.29"


def klag_binary(given: str | None) -> str | None:
    """klag-exporter: --klag, on PATH, or where `cargo install` puts it."""
    for candidate in (given, shutil.which("klag-exporter"),
                      str(Path.home() / ".cargo" / "bin" / "klag-exporter")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def klag_config(bootstrap: str, port: int, interval_s: float, name_filter: str,
                fetches: int | None = None, cache_ttl_s: float | None = None) -> str:
    """klag's TOML; `fetches`: its max_concurrent_fetches (None: its default, 5);
    `cache_ttl_s`: how long it keeps a fetched timestamp (None: its default, 60 s)."""
    tuned = "" if fetches is None else f"max_concurrent_fetches = {fetches}\n"
    tuned += "" if cache_ttl_s is None else f'cache_ttl = "{cache_ttl_s:g}s"\n'
    return f"""[exporter]
poll_interval = "{interval_s:g}s"
http_port = {port}
http_host = "127.0.0.1"
granularity = "partition"

[exporter.timestamp_sampling]
enabled = true
mode = "message"
{tuned}
[[clusters]]
name = "bench"
bootstrap_servers = "{bootstrap}"
group_whitelist = ["{name_filter}"]
topic_whitelist = ["{name_filter}"]
"""


class KlagProcess:
    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc, self.url = proc, url

    def scrape(self) -> Scrape:
        started = time.perf_counter()
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as resp:
            body = resp.read().decode()
        return Scrape(parse(body), time.perf_counter() - started, body)


@contextmanager
def klag_process(binary: str, bootstrap: str, interval_s: float, name_filter: str,
                 timeout: float = 60, fetches: int | None = None,
                 cache_ttl_s: float | None = None) -> Iterator[KlagProcess]:
    """klag-exporter on a free port, cluster label "bench", topics and groups matching
    `name_filter`, per partition, time lag from the record at the committed offset."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="klag-") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(klag_config(bootstrap, port, interval_s, name_filter, fetches,
                                      cache_ttl_s))
        log_file = open(Path(tmp) / "klag.log", "wb")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen([binary, "-c", str(config), "-l", "warn"],
                                stdout=log_file, stderr=subprocess.STDOUT)
        klag = KlagProcess(proc, f"http://127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"klag-exporter exited {proc.returncode}: "
                                       f"{(Path(tmp) / 'klag.log').read_text()[-2000:]}")
                try:
                    klag.scrape()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "klag-exporter never served"
                    time.sleep(0.2)  # polling interval of the deadline-bounded start wait
            yield klag
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            log_file.close()

"""Run `nexus-tui exporter` as a real process and read its /metrics (tests and bench)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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

"""Fetch Apache Kafka's jars once with Maven into a per-user cache, and find a Java 17+."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from core.errors import LocalClusterError

_POM = "pom.xml"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
DOCKER_HINT = "or run Redpanda with Docker instead: `docker compose up -d` (see README)"


def _pom_text() -> str:
    return resources.files("core.local").joinpath(_POM).read_text()


def _kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", _pom_text())
    assert match, "core/local/pom.xml must set <kafka.version>"
    return match.group(1)


KAFKA_VERSION = _kafka_version()


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nexus-tui"


def jars_dir(version: str = KAFKA_VERSION) -> Path:
    """Where the runtime jars of Kafka `version` live (one folder per version)."""
    return cache_root() / f"kafka-{version}" / "libs"


def _complete(libs: Path, version: str) -> bool:
    return (libs / f"kafka_2.13-{version}.jar").is_file() and (libs / ".complete").is_file()


def find_java() -> str:
    """Path of a `java` of version 17 or newer, or a clear error saying what to install."""
    java_home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(java_home) / "bin" / "java")] if java_home else []
    found = shutil.which("java")
    if found:
        candidates.append(found)
    for java in candidates:
        if not os.access(java, os.X_OK):
            continue
        try:
            out = subprocess.run(
                [java, "-version"], capture_output=True, text=True, timeout=30
            ).stderr
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
        if match:
            major = int(match.group(1))
            if major == 1 and match.group(2):
                major = int(match.group(2))
            if major >= 17:
                return java
            raise LocalClusterError(
                f"{java} is Java {major}; Apache Kafka {KAFKA_VERSION} needs Java 17 or newer "
                f"(install it, e.g. `apt-get install openjdk-17-jre-headless`), {DOCKER_HINT}"
            )
    raise LocalClusterError(
        "java not found: the local Kafka cluster needs Java 17+ "
        f"(install it, e.g. `apt-get install openjdk-17-jre-headless`), {DOCKER_HINT}"
    )


def ensure_jars(
    version: str = KAFKA_VERSION, progress: Callable[[str], None] | None = None
) -> Path:
    """Return the folder of Kafka's runtime jars, fetching them with Maven the first time."""
    libs = jars_dir(version)
    if _complete(libs, version):
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise LocalClusterError(
            f"mvn not found: it fetches Apache Kafka {version} from Maven Central once "
            f"(install it, e.g. `apt-get install maven`), {DOCKER_HINT}"
        )
    if progress:
        progress(f"fetching Apache Kafka {version} jars with Maven into {libs} (once) ...")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=libs.parent) as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(_pom_text().replace("${kafka.version}", version, 2))
        out = Path(tmp) / "libs"
        cmd = [
            mvn, "-B", "-q", "-f", str(pom),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={out}", "-DincludeScope=runtime",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
            raise LocalClusterError(f"Maven could not fetch Apache Kafka {version}: {tail}")
        (out / ".complete").write_text(version)
        if libs.exists():
            shutil.rmtree(libs)
        out.rename(libs)
    if progress:
        progress(f"Apache Kafka {version} jars ready ({sum(1 for _ in libs.glob('*.jar'))} jars)")
    return libs


def java_classpath(libs: Path) -> str:
    """The classpath wildcard the JVM expands itself (to *.jar only)."""
    return str(libs / "*")

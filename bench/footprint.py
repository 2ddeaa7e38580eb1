"""The whole tool's memory and first paint, side by side with kaskade, as a user runs them.

Both TUIs are started in tmux on the same cluster, alternating, as a person types them:
`nexus-tui -b B` (then `2`, the topics view, typed at once) and `kaskade admin -b B` (its
first view is the topic list). Measured per launch:

- first paint: from the launch to the first frame that shows a row of the cluster's topics
  (tmux capture-pane polled every 20 ms);
- RSS of the whole process tree (the TUI and every child it started) 30 s after the launch.

A third side, `floor` (on by default, `--no-floor` drops it), launches bench/textual_floor.py
the same way: a Textual app that shows one table row and nothing else, no Kafka. Its first
paint is what any Textual TUI pays before its first row on this machine, beside the other two.

Clusters: the demo (`nexus-tui demo --no-tui`: live Nexus traffic on a few dozen
partitions) and `Nk`: N,000 partitions in topics of 10, 200 of them with a group with commits
(bench/snapshot.py's layout), e.g. 2k and 5k.
kaskade (PyPI, 5.1.0) is installed into its own venv under ~/.cache/nexus-tui on first use,
and this checkout, as a wheel, into another (`installed_ours`), again at every run: both
tools start as a user's installed copy does.

    .venv/bin/python bench/footprint.py [--runs 3] [--clusters demo,2k,5k] [--settle 30]
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from common import MiB, broker, create_topics, entry, log, parser, print_machine
from confluent_kafka import Producer
from snapshot import PARTITIONS_PER_TOPIC, grow, topic_name

KASKADE_VERSION = "5.1.0"
KASKADE_VENV = Path.home() / ".cache" / "nexus-tui" / f"kaskade-{KASKADE_VERSION}"
OURS_VENV = Path.home() / ".cache" / "nexus-tui" / "footprint-ours"
SIZE = (160, 50)
RSS_RATIO_TARGET = 1.3
#: cluster -> a bound on our tree's RSS (MiB) besides the ratio (issue 14: 5,000 partitions)
RSS_BOUND_MIB = {"5k": 200.0}
PAINT_RATIO_TARGET = 0.5
PAINT_TARGET_S = 1.0


def kaskade() -> Path:
    """kaskade's executable, installed into its own venv once."""
    exe = KASKADE_VENV / "bin" / "kaskade"
    if not exe.exists():
        log(f"installing kaskade {KASKADE_VERSION} into {KASKADE_VENV} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(KASKADE_VENV)], check=True)
        subprocess.run([str(KASKADE_VENV / "bin" / "pip"), "install", "-q",
                        f"kaskade=={KASKADE_VERSION}"], check=True)
    return exe


def installed_ours() -> Path:
    """This checkout's `nexus-tui`, installed as a user installs it (`pip install`, a wheel in
    its own venv), as kaskade is: the repo's .venv is an editable install, whose import hook
    (a .pth file run at every interpreter start) costs each of our two processes time that no
    installed copy pays. The venv is kept; this checkout is installed into it again each run."""
    root = Path(__file__).resolve().parent.parent
    pip = OURS_VENV / "bin" / "pip"
    if not pip.exists():
        log(f"creating {OURS_VENV} for this checkout's installed copy (once)")
        subprocess.run([sys.executable, "-m", "venv", str(OURS_VENV)], check=True)
    with tempfile.TemporaryDirectory() as built:
        subprocess.run([str(pip), "wheel", "-q", "--no-deps", "-w", built, str(root)],
                       check=True)
        wheel = str(next(Path(built).glob("*.whl")))
        subprocess.run([str(pip), "install", "-q", wheel], check=True)  # its dependencies
        subprocess.run([str(pip), "install", "-q", "--no-deps", "--force-reinstall", wheel],
                       check=True)  # this checkout, whatever version the venv had
    return OURS_VENV / "bin" / "nexus-tui"


def tree_rss_mib(pid: int) -> tuple[float, int]:
    """(RSS of the process and all its descendants in MiB, how many processes)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / MiB, len(procs)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def launch(name: str, command: list[str], env: dict[str, str], marker: str, keys: str,
           settle_s: float) -> tuple[float, float, int]:
    """(first paint s, RSS MiB of the tree after `settle_s`, processes) of one launch."""
    session = f"fp-{name}-{os.getpid()}-{random.randrange(1 << 30)}"
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    shell = f"exec env {exports} " + " ".join(command)
    started = time.monotonic()
    tmux("new-session", "-d", "-s", session, "-x", str(SIZE[0]), "-y", str(SIZE[1]), shell)
    try:
        pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
        if keys:
            tmux("send-keys", "-t", session, keys)
        paint = None
        deadline = started + 60
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", session)
            if marker in screen:
                paint = time.monotonic() - started
                break
            time.sleep(0.02)  # the capture poll interval
        if paint is None:
            raise RuntimeError(f"{name}: no topic row on screen within 60 s:\n{screen}")
        time.sleep(max(0.0, started + settle_s - time.monotonic()))
        rss, procs = tree_rss_mib(pid)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        time.sleep(1.0)  # let the killed tree exit before the next launch
    return paint, rss, procs


@contextlib.contextmanager
def demo_cluster() -> Iterator[tuple[str, str]]:
    """(bootstrap, a topic name on it) of a running `nexus-tui demo --no-tui`."""
    proc = subprocess.Popen([sys.executable, "-m", "nexus_tui", "demo", "--no-tui", "-q"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"(127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+)*)", line)
        if not found:
            raise RuntimeError(f"unexpected demo output: {line!r}")
        time.sleep(10)  # let the demo services create their topics and traffic
        yield found.group(1), "demo.greeting.v1"
    finally:
        proc.terminate()
        proc.wait(60)


@contextlib.contextmanager
def big_cluster(given: str | None, partitions: int) -> Iterator[tuple[str, str]]:
    """`partitions` (a multiple of 10) in topics of 10 with records; 200 of them with a
    consumer group each (bench/snapshot.py's layout), the rest without."""
    topics = partitions // PARTITIONS_PER_TOPIC
    with broker(given) as b:
        grow(b.bootstrap, 0, min(200, topics), random.Random(7))
        if topics > 200:
            more_topics(b.bootstrap, 200, topics)
        yield b.bootstrap, topic_name(0)


def more_topics(bootstrap: str, start: int, stop: int) -> None:
    """Topics [start, stop) as grow makes them, records on every partition, no group."""
    names = [topic_name(i) for i in range(start, stop)]
    create_topics(bootstrap, names, PARTITIONS_PER_TOPIC)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "log_level": 3})
    for name in names:
        for p in range(PARTITIONS_PER_TOPIC):
            producer.produce(name, b"x" * 100, partition=p)
        producer.poll(0)
    left = producer.flush(60)
    assert left == 0, f"{left} records not acknowledged"


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--clusters", default="demo,2k")
    p.add_argument("--settle", type=float, default=30.0, help="seconds before RSS is read")
    p.add_argument("--no-floor", action="store_true",
                   help="leave out the bare Textual app (bench/textual_floor.py)")
    args = p.parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    settle = 8.0 if args.quick else args.settle
    print_machine()
    ours_exe = installed_ours()
    exe = kaskade()
    # no configuration, as kaskade has none: a config file path that does not exist (the
    # user's own file, if any, is not read)
    config = Path(tempfile.mkdtemp()) / "config.toml"
    ours_cmd = [str(ours_exe)]
    floor_script = str(Path(__file__).resolve().parent / "textual_floor.py")
    sides = ("ours", "kaskade") if args.no_floor else ("ours", "kaskade", "floor")
    failed = False
    for name in args.clusters.split(","):
        cm = demo_cluster() if name == "demo" else big_cluster(
            args.bootstrap, int(name.removesuffix("k")) * 1000)
        with cm as (bootstrap, marker):
            figures: dict[str, list[tuple[float, float, int]]] = {s: [] for s in sides}
            for i in range(runs):
                for side in sides if i % 2 == 0 else sides[::-1]:
                    if side == "ours":
                        got = launch("ours", [*ours_cmd, "-b", bootstrap],
                                     {"NEXUS_TUI_CONFIG": str(config)}, marker, "2", settle)
                    elif side == "floor":
                        got = launch("floor", [sys.executable, floor_script, marker], {},
                                     marker, "", settle)
                    else:
                        got = launch("kaskade", [str(exe), "admin", "-b", bootstrap], {},
                                     marker, "", settle)
                    figures[side].append(got)
                    log(f"{name} run {i + 1}/{runs} {side}: first paint {got[0]:.2f} s, "
                        f"RSS {got[1]:.0f} MiB in {got[2]} process(es), load "
                        f"{os.getloadavg()[0]:.1f}")
        ours, ref = figures["ours"], figures["kaskade"]
        paint_o = statistics.median(x[0] for x in ours)
        paint_k = statistics.median(x[0] for x in ref)
        rss_o = statistics.median(x[1] for x in ours)
        rss_k = statistics.median(x[1] for x in ref)
        procs_o = max(x[2] for x in ours)
        bound = RSS_BOUND_MIB.get(name)
        rss_ok = rss_o <= RSS_RATIO_TARGET * rss_k and (bound is None or rss_o <= bound)
        paint_ok = paint_o <= PAINT_TARGET_S and paint_o <= PAINT_RATIO_TARGET * paint_k
        failed = failed or not (rss_ok and paint_ok)
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\n== footprint, {name} cluster ({bootstrap}) ==  ({runs} launches per side, "
              f"alternating; medians; load average now {load})")
        print(f"first paint   ours {paint_o:.2f} s  kaskade {paint_k:.2f} s  ratio "
              f"{paint_o / paint_k:.2f}x  target <= {PAINT_TARGET_S} s and <= "
              f"{PAINT_RATIO_TARGET}x  {'PASS' if paint_ok else 'MISS'}")
        print(f"RSS of tree   ours {rss_o:.0f} MiB ({procs_o} processes)  kaskade {rss_k:.0f} "
              f"MiB  ratio {rss_o / rss_k:.2f}x  target <= {RSS_RATIO_TARGET}x"
              f"{f' and <= {bound:.0f} MiB' if bound else ''}  "
              f"{'PASS' if rss_ok else 'MISS'}")
        if "floor" in figures:
            paint_f = statistics.median(x[0] for x in figures["floor"])
            print(f"floor         a bare Textual app, one table row, no Kafka: first paint "
                  f"{paint_f:.2f} s = {paint_f / paint_k:.2f}x kaskade's; ours is "
                  f"{paint_o / paint_f:.2f}x the floor")
        for side, got in figures.items():
            print(f"  {side}: {[(round(a, 2), round(b)) for a, b, _ in got]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(entry(main))

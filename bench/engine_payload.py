"""The engine's answer to one refresh: its pickled size and the parent's unpickle time.

The cluster of bench/tui.py (500 topics x 10 partitions = 5,000 partitions, 200 groups of 5
topics each, committed at the log end) on a private broker; an `EngineProcess` refreshes it
WARMUP times (the histories fill), then each of RUNS refreshes is measured in the parent: the
answer's pickle size (the bytes that crossed the pipe, re-pickled the same way) and the time
`pickle.loads` takes for them, with its parts (the snapshot, the groups' health, the topics'
health) pickled on their own to show where the bytes are.

    .venv/bin/python bench/engine_payload.py [-b HOST:PORT] [--runs 5] [--warmup 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pickle
import statistics
import sys
import time

from tui import commit_caught_up, private_broker, seed

from core.config.settings import ConnectionSettings
from core.engine.process import EngineProcess


def _size_and_load_ms(obj: object) -> tuple[int, float]:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    started = time.perf_counter()
    pickle.loads(data)
    return len(data), (time.perf_counter() - started) * 1000


async def measure(bootstrap: str, runs: int, warmup: int) -> None:
    engine = EngineProcess(ConnectionSettings(bootstrap=bootstrap, request_timeout_s=30))
    try:
        for _ in range(warmup):
            await engine.refresh()
        sizes, loads = [], []
        for i in range(runs):
            reading = await engine.refresh()
            size, load_ms = _size_and_load_ms(reading)
            sizes.append(size)
            loads.append(load_ms)
            view = reading.view
            parts = {name: _size_and_load_ms(obj)[0] for name, obj in (
                ("snapshot", view.snapshot), ("groups", view.groups),
                ("topics", view.topics), ("traffic", reading.traffic))}
            print(f"run {i + 1}: {sum(1 for _ in view.snapshot.partitions()):,} partitions, "
                  f"{len(view.groups)} groups: {size / 1e6:.2f} MB, unpickled in "
                  f"{load_ms:.1f} ms; parts alone (MB): "
                  + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in parts.items()), flush=True)
        print(f"median of {runs}: {statistics.median(sizes) / 1e6:.2f} MB, "
              f"{statistics.median(loads):.1f} ms to unpickle (min {min(loads):.1f}, "
              f"max {max(loads):.1f})")
    finally:
        await engine.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-b", "--bootstrap", default=None, help="a broker already seeded")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
    with (contextlib.nullcontext(args.bootstrap) if args.bootstrap
          else private_broker()) as bootstrap:
        if not args.bootstrap:
            seed(bootstrap, 500, 10, 3)
            commit_caught_up(bootstrap, 500, 10, 200, 5)
        asyncio.run(measure(bootstrap, args.runs, args.warmup))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The first answer of a new admin client: KafkaAdmin as configured, against librdkafka's default.

Every CLI command and the TUI's engine start with a new `KafkaAdmin` whose first request is a
Metadata request (`topology`: what the TUI's first view shows). Since librdkafka 2.10 the
bootstrap broker's connection is dropped once the first Metadata answer names the real
brokers, and a request sent on it is sent again after half of `reconnect.backoff.ms`
(core/cluster/admin.py, RECONNECT_BACKOFF_MS). Each launch is a fresh process, alternating:
`ours` (KafkaAdmin as it is) and `default` (the same with `-X reconnect.backoff.ms=100`,
librdkafka's default); measured from the client's creation to the snapshot in hand.

    .venv/bin/python bench/first_answer.py [--runs 15] [-b HOST:PORT]
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from common import broker, entry, log, parser, print_machine

CHILD = """
import asyncio, sys, time
from core.cluster.admin import KafkaAdmin
from core.config.request import parse_properties
from core.config.settings import ConnectionSettings

settings = ConnectionSettings(bootstrap=sys.argv[1],
                              client_properties=parse_properties(sys.argv[2:]))

async def first() -> float:
    started = time.perf_counter()
    admin = KafkaAdmin(settings)
    await admin.topology()
    return time.perf_counter() - started

print(asyncio.run(first()))
"""
SIDES = {"ours": [], "default": ["reconnect.backoff.ms=100"]}


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.split("\n\n")[0]).parse_args(argv)
    runs = args.runs or (3 if args.quick else 15)
    print_machine()
    with broker(args.bootstrap) as b:
        times: dict[str, list[float]] = {side: [] for side in SIDES}
        for i in range(runs):
            for side in SIDES if i % 2 == 0 else list(SIDES)[::-1]:
                out = subprocess.run([sys.executable, "-c", CHILD, b.bootstrap, *SIDES[side]],
                                     capture_output=True, text=True, check=True).stdout
                times[side].append(float(out))
            log(f"run {i + 1}/{runs}: ours {times['ours'][-1] * 1000:.1f} ms, "
                f"default {times['default'][-1] * 1000:.1f} ms")
    ours, ref = statistics.median(times["ours"]), statistics.median(times["default"])
    print(f"\n== first Metadata answer of a new KafkaAdmin ({runs} launches per side, "
          "alternating; medians) ==")
    print(f"ours (reconnect.backoff.ms=20) {ours * 1000:.1f} ms   librdkafka's default (100) "
          f"{ref * 1000:.1f} ms   ratio {ours / ref:.2f}x")
    for side, got in times.items():
        print(f"  {side}: {[round(t * 1000, 1) for t in got]}")
    return 0


if __name__ == "__main__":
    sys.exit(entry(main))

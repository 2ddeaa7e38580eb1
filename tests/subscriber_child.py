"""A subscriber process for the at-least-once test: logs each handled record, one line each."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from core import HandlerContext, KafkaSubscriber


async def main(bootstrap: str, topic: str, group: str, out_path: str) -> None:
    fd = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    async def handler(ctx: HandlerContext) -> None:
        # one write() per record: a SIGKILL can't leave half a line
        os.write(fd, f"{ctx.partition} {ctx.offset} {ctx.envelope.id}\n".encode())
        await asyncio.sleep(0)

    sub = KafkaSubscriber(bootstrap, group, commit_interval_s=0.2, max_buffered_per_partition=200)
    sub.handle(topic, handler)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with sub:
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))

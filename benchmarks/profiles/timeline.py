"""Where a batch of 50 HTTP checks spends its time, seen from the server: when each request arrives.

    .venv/bin/python benchmarks/profiles/timeline.py [--batches 11] [--delay-ms 300]

Runs bench_parallel_http.py's three ways interleaved (bare sockets, the http kind alone, the engine)
against a copy of its server that prints, on the shared monotonic clock, when each request was read and
when its answer was written. Prints, per way, the medians of: the first and the last request's arrival
after the batch started, and the batch's end after the server's last answer. Before the last arrival is
request set-up (the client's, the engine's); after the last answer is response handling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_parallel_http as bench  # noqa: E402
from _common import scratch_dir  # noqa: E402

from deploytui.checks.kinds.http import Kind  # noqa: E402
from deploytui.core.spec import CheckSpec  # noqa: E402
from deploytui.engine import Engine  # noqa: E402
from deploytui.engine import loop as engine_loop  # noqa: E402

SERVER = bench.SERVER.replace(
    "        await asyncio.sleep(DELAY)\n",
    "        import time\n        print('A', time.monotonic(), flush=True)\n"
    "        await asyncio.sleep(DELAY)\n        print('W', time.monotonic(), flush=True)\n",
)
assert SERVER != bench.SERVER, "bench_parallel_http.SERVER changed: update this script"
CHECKS = 50


def specs(url: str) -> list[CheckSpec]:
    return [
        CheckSpec(item=f"item-{n}", kind="http", index=n, params={"url": url, "expect": {"status": 200}})
        for n in range(CHECKS)
    ]


async def engine_batch(url: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as logs:
        engine = Engine(concurrency=CHECKS, log_dir=logs, env=dict(os.environ))
        batch = specs(url)
        started = time.monotonic()
        await engine.run_many(batch, lambda event: None)
        return started, time.monotonic()


async def client_batch(url: str) -> tuple[float, float]:
    ctx = Engine(env=dict(os.environ)).context(10.0)
    batch = specs(url)
    started = time.monotonic()
    await asyncio.gather(*(Kind().run(spec, ctx) for spec in batch))
    return started, time.monotonic()


async def floor_batch(port: int) -> tuple[float, float]:
    started = time.monotonic()
    await bench.floor(port, CHECKS)
    return started, time.monotonic()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=11)
    p.add_argument("--delay-ms", type=int, default=300)
    args = p.parse_args()
    port = bench.free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(args.delay_ms)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    url = f"http://127.0.0.1:{port}/api/v1/health"

    def marks(n: int) -> tuple[list[float], list[float]]:
        arrived: list[float] = []
        answered: list[float] = []
        assert server.stdout is not None
        for _ in range(2 * n):
            tag, at = server.stdout.readline().split()
            (arrived if tag == "A" else answered).append(float(at))
        return arrived, answered

    try:
        engine_loop.run(engine_batch(url))  # warm-up: imports aiohttp
        marks(CHECKS)
        ways = ("bare sockets", "http kind alone", "engine")
        rows: dict[str, list[tuple[float, float, float]]] = {way: [] for way in ways}
        for _ in range(args.batches):
            for way in rows:
                if way == "engine":
                    started, ended = engine_loop.run(engine_batch(url))
                elif way == "http kind alone":
                    started, ended = engine_loop.run(client_batch(url))
                else:
                    started, ended = engine_loop.run(floor_batch(port))
                arrived, answered = marks(CHECKS)
                first, last, tail = min(arrived) - started, max(arrived) - started, ended - max(answered)
                rows[way].append((first * 1000, last * 1000, tail * 1000))
    finally:
        server.terminate()
        server.wait(5)
    print(
        f"{CHECKS} checks, server delay {args.delay_ms} ms, "
        f"medians of {args.batches} interleaved batches, ms"
    )
    print(f"{'':18}{'first arrives':>14}{'last arrives':>14}{'end after last answer':>23}")
    for way, values in rows.items():
        first, last, tail = (statistics.median(column) for column in zip(*values, strict=True))
        print(f"{way:18}{first:14.1f}{last:14.1f}{tail:23.1f}")


if __name__ == "__main__":
    main()

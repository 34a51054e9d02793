"""Benchmark: 50 HTTP checks against a loopback server that answers each request after 300 ms.

    .venv/bin/python benchmarks/bench_parallel_http.py [--checks 50] [--delay-ms 300]

Runs the checks through the real engine (one httpx client per check, as in production) with
concurrency 50, with the default concurrency (8), and sequentially (concurrency 1); prints the wall time
of each and its ratio to one answer's delay. Target with concurrency 50: ratio <= 1.5 (aim <= 1.2).
The server runs in its own process (asyncio, keep-alive off), so it does not share the GIL with the engine.
httpx is imported by a warm-up check before timing (a one-off ~0.1 s per process).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploytui.checks.base import CheckSpec  # noqa: E402
from deploytui.core.status import Status  # noqa: E402
from deploytui.engine import Engine  # noqa: E402

SERVER = r"""
import asyncio, sys
DELAY = float(sys.argv[2]) / 1000

async def handle(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line or line in (b"\r\n", b"\n"):
                break
        await asyncio.sleep(DELAY)
        body = b'{"status": "healthy"}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(url: str, checks: int, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as logs:
        engine = Engine(concurrency=concurrency, log_dir=logs, env=dict(os.environ))
        specs = [
            CheckSpec(item=f"item-{n}", kind="http", index=n, params={"url": url, "expect": {"status": 200}})
            for n in range(checks)
        ]
        started = time.monotonic()
        outcomes = await engine.run_many(specs, lambda event: None)
        elapsed = time.monotonic() - started
    bad = [o for o in outcomes if o.status is not Status.PASSED]
    if bad:
        raise SystemExit(f"{len(bad)} checks did not pass: {bad[0].reason}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=50)
    parser.add_argument("--delay-ms", type=int, default=300)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(args.delay_ms)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        url = f"http://127.0.0.1:{port}/api/v1/health"
        delay = args.delay_ms / 1000
        asyncio.run(run(url, 1, 1))  # warm-up: imports httpx
        print(f"{args.checks} HTTP checks, server answers after {args.delay_ms} ms")
        for label, concurrency in (
            (f"concurrency {args.checks}", args.checks),
            ("concurrency 8 (default)", 8),
            ("sequential (concurrency 1)", 1),
        ):
            best = min(
                asyncio.run(run(url, args.checks, concurrency)) for _ in range(3 if concurrency > 1 else 1)
            )
            print(f"  {label:<28} wall {best:6.3f} s   ratio to {args.delay_ms} ms: {best / delay:5.2f}")
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()

"""Benchmark: 50 HTTP checks against a loopback server that answers each request after 300 ms.

    .venv/bin/python benchmarks/bench_parallel_http.py [--checks 50] [--delay-ms 300] [--repeat 3]

Runs the checks through the real engine (one aiohttp client per check, on the engine's event loop:
uvloop's where installed, as in production) with concurrency 50, with the default concurrency (8), and
sequentially (concurrency 1, the same 50 requests one after another); prints the wall time of each, its
ratio to one answer's delay (target with concurrency 50: <= 1.1 in every run), the engine's overhead per
check ((wall - delay) / checks: <= 0.5 ms) and the speed-up over the sequential baseline.
The server runs in its own process (asyncio, keep-alive off), so it does not share the GIL with the engine.
aiohttp is imported by a warm-up check before timing (a one-off ~0.15 s per process).
The floor, measured in the same run and interleaved: the same 50 requests at once over bare asyncio sockets
(connect, write the request, read to EOF) on the same loop, no HTTP library and no engine. What the machine
(the server's own CPU, the loopback, the scheduler) costs shows there; the engine's overhead over it is
(wall - floor) / checks. Also interleaved: the HTTP client alone, the same 50 checks through the http kind
itself (its aiohttp client, its judging) gathered on the same loop with no engine around them; the engine's
own overhead is (wall - client) / checks. Each run also times concurrency 50 on asyncio's own loop, for
comparison.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time

from _common import Figure, median, parser, report, scratch_dir  # noqa: E402 - puts the repository on sys.path

from deploytui.core.spec import CheckSpec  # noqa: E402
from deploytui.core.status import Status  # noqa: E402
from deploytui.engine import Engine  # noqa: E402
from deploytui.engine import loop as engine_loop  # noqa: E402

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
    # The logs go where sessions live (creating a file in this machine's /tmp costs ~170 us, 10x more).
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as logs:
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


async def client_alone(url: str, checks: int) -> float:
    """The same checks through the http kind itself, gathered: its client and judging, no engine."""
    from deploytui.checks.kinds.http import Kind

    ctx = Engine(env=dict(os.environ)).context(10.0)
    specs = [
        CheckSpec(item=f"item-{n}", kind="http", index=n, params={"url": url, "expect": {"status": 200}})
        for n in range(checks)
    ]
    started = time.monotonic()
    outcomes = await asyncio.gather(*(Kind().run(spec, ctx) for spec in specs))
    elapsed = time.monotonic() - started
    if any(o.status is not Status.PASSED for o in outcomes):
        raise SystemExit("the http kind alone did not pass every check")
    return elapsed


async def floor(port: int, checks: int) -> float:
    """The same requests at once over bare sockets: the wall no client or engine can beat here."""
    request = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    async def one() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        answer = await reader.read()
        writer.close()
        return answer

    started = time.monotonic()
    answers = await asyncio.gather(*(one() for _ in range(checks)))
    elapsed = time.monotonic() - started
    if not all(a.startswith(b"HTTP/1.1 200") for a in answers):
        raise SystemExit("the floor's requests did not all get a 200")
    return elapsed


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--checks", type=int, default=50)
    p.add_argument("--delay-ms", type=int, default=300)
    args = p.parse_args()
    if args.quick:
        args.checks, args.delay_ms, args.repeat = 5, 50, 1
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(args.delay_ms)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        url = f"http://127.0.0.1:{port}/api/v1/health"
        delay = args.delay_ms / 1000
        loop_used = engine_loop.loop_name(engine_loop.new_event_loop())
        engine_loop.run(run(url, 1, 1))  # warm-up: imports aiohttp
        walls: dict[int, list[float]] = {args.checks: [], 8: [], 1: []}
        floors: list[float] = []
        clients: list[float] = []
        plain: list[float] = []
        for n in range(max(1, args.repeat)):
            floors.append(engine_loop.run(floor(port, args.checks)))
            clients.append(engine_loop.run(client_alone(url, args.checks)))
            for concurrency in walls:
                if concurrency == 1 and n:
                    continue  # the sequential baseline once: 50 x 300 ms, and it is not noisy
                walls[concurrency].append(engine_loop.run(run(url, args.checks, concurrency)))
            if loop_used != "asyncio":
                plain.append(asyncio.run(run(url, args.checks, args.checks)))
    finally:
        server.terminate()
        server.wait(5)
    full, default, sequential = (median(walls[c]) for c in (args.checks, 8, 1))
    print(
        f"Parallel checks: {args.checks} HTTP checks through the engine, the server answers each after "
        f"{args.delay_ms} ms; {args.repeat} run(s) each, on {loop_used}'s event loop (the engine's)"
    )
    overhead = [(w - delay) / args.checks * 1000 for w in walls[args.checks]]
    over_floor = [(w - f) / args.checks * 1000 for w, f in zip(walls[args.checks], floors, strict=True)]
    over_client = [(w - c) / args.checks * 1000 for w, c in zip(walls[args.checks], clients, strict=True)]
    report(
        [
            Figure.over(
                "parallel", f"wall, concurrency {args.checks}", [w * 1000 for w in walls[args.checks]], "ms"
            ),
            Figure.over(
                "parallel",
                f"wall / {args.delay_ms} ms, concurrency {args.checks}",
                [w / delay for w in walls[args.checks]],
                "x",
                "<=",
                1.1,
            ),
            Figure.over(
                "parallel",
                "engine overhead per check (wall - delay) / checks",
                overhead,
                "ms",
                "<=",
                0.5,
            ),
            Figure.over(
                "parallel",
                f"floor, bare sockets / {args.delay_ms} ms",
                [f / delay for f in floors],
                "x",
                note="the same requests, no HTTP library, no engine",
            ),
            Figure.over(
                "parallel",
                "overhead over the floor, per check",
                over_floor,
                "ms",
                note="(wall - floor) / checks: the HTTP client and the engine",
            ),
            Figure.over(
                "parallel",
                f"HTTP client alone / {args.delay_ms} ms",
                [c / delay for c in clients],
                "x",
                note="the same checks through the http kind, gathered, no engine",
            ),
            Figure.over(
                "parallel",
                "engine overhead over its client, per check",
                over_client,
                "ms",
                note="(wall - client alone) / checks",
            ),
            *(
                [
                    Figure.over(
                        "parallel",
                        f"wall / {args.delay_ms} ms, concurrency {args.checks}, asyncio's own loop",
                        [w / delay for w in plain],
                        "x",
                        note="for comparison: DEPLOYTUI_LOOP=asyncio",
                    )
                ]
                if plain
                else []
            ),
            Figure.over(
                "parallel",
                f"wall / {args.delay_ms} ms, concurrency 8 (default)",
                [w / delay for w in walls[8]],
                "x",
            ),
            Figure("parallel", "wall, sequential (one after another)", sequential * 1000, "ms"),
            Figure(
                "parallel",
                f"sequential / concurrency-{args.checks} wall",
                sequential / full,
                "x",
                note=f"ideal {args.checks}",
            ),
        ],
        args.json,
    )


if __name__ == "__main__":
    main()

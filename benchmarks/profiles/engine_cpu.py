"""The engine's own CPU per check, with no network: 50 checks of a kind that waits and prints 4 lines.

    .venv/bin/python benchmarks/profiles/engine_cpu.py [--batches 25] [--profile FILE]

A kind registered for this script only (`wait`) prints a request line, waits 100 ms (long enough for
each run's deferred log file to be created during the wait, as in bench_parallel_http.py), prints three
answer lines and passes. Prints the engine's cost per check ((wall - 100 ms) / checks) beside the same
50 kinds gathered with no engine, medians of interleaved batches; `--profile FILE` writes a pyinstrument
profile of 60 more engine batches there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import scratch_dir  # noqa: E402

from deploytui.checks import registry  # noqa: E402
from deploytui.checks.base import CheckKind  # noqa: E402
from deploytui.core.spec import CheckContext, CheckSpec  # noqa: E402
from deploytui.core.status import Outcome  # noqa: E402
from deploytui.engine import Engine  # noqa: E402
from deploytui.engine import loop as engine_loop  # noqa: E402

CHECKS = 50
WAIT = 0.1


class Wait(CheckKind):
    """Prints what an http check prints, waits instead of sending."""

    name = "wait"

    async def run(self, spec: CheckSpec, ctx: CheckContext) -> Outcome:
        ctx.emit(f"GET {ctx.substitute(spec.params['url'])}")
        await asyncio.sleep(WAIT)
        for line in ("200 OK (3 ms)", "content-type: application/json", '{"status": "healthy"}'):
            ctx.emit(line)
        return Outcome.passed("200 OK", status=200, ms=3)

    def describe(self, spec: CheckSpec, ctx: CheckContext) -> str:
        return f"GET {ctx.substitute(spec.params['url'])}"


registry._LOADED["wait"] = Wait  # noqa: SLF001 - a kind for this script only, not installed


def specs() -> list[CheckSpec]:
    params: dict[str, Any] = {"url": "http://127.0.0.1:9/api/v1/health"}
    return [CheckSpec(item=f"item-{n}", kind="wait", index=n, params=params) for n in range(CHECKS)]


async def through_engine() -> float:
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as logs:
        engine = Engine(concurrency=CHECKS, log_dir=logs, env=dict(os.environ))
        batch = specs()
        started = time.perf_counter()
        outcomes = await engine.run_many(batch, lambda event: None)
        elapsed = time.perf_counter() - started
    if any(o.status.value != "passed" for o in outcomes):
        raise SystemExit(f"a check did not pass: {outcomes[0].reason}")
    return (elapsed - WAIT) * 1e6 / CHECKS


async def alone() -> float:
    ctx = Engine(env=dict(os.environ)).context(10.0)
    batch = specs()
    started = time.perf_counter()
    await asyncio.gather(*(Wait().run(spec, ctx) for spec in batch))
    return (time.perf_counter() - started - WAIT) * 1e6 / CHECKS


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=25)
    p.add_argument("--profile", metavar="FILE", help="write a pyinstrument profile of 60 engine batches")
    args = p.parse_args()
    engine_loop.run(through_engine())  # warm-up
    engine: list[float] = []
    kinds: list[float] = []
    for _ in range(args.batches):
        engine.append(engine_loop.run(through_engine()))
        kinds.append(engine_loop.run(alone()))
    e, k = statistics.median(engine), statistics.median(kinds)
    print(
        f"per check, medians of {args.batches} interleaved batches of {CHECKS}: engine {e:.0f} us "
        f"[{min(engine):.0f}-{max(engine):.0f}], "
        f"the kinds alone {k:.0f} us [{min(kinds):.0f}-{max(kinds):.0f}]; "
        f"the engine's own {e - k:.0f} us"
    )
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.00005, async_mode="disabled")
        profiler.start()
        for _ in range(60):
            engine_loop.run(through_engine())
        profiler.stop()
        Path(args.profile).write_text(profiler.output_text(unicode=False, show_all=True), encoding="utf-8")
        print(f"profile written to {args.profile}")


if __name__ == "__main__":
    main()

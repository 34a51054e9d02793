"""Benchmark: the bundled run's wall time against its critical path.

    .venv/bin/python benchmarks/bench_critical_path.py [--repeat 3] [--quick]

Starts the loopback deployment the tests use (tests/servers/deployment.py: PostgreSQL, Redis, the
target app with its real per-IP rate limiter and its HTTPS twin, Qdrant, Gemini, Prometheus, podman's
Docker API), then runs the bundled bindings' checks (never the actions) through the engine as
`deploytui check` does, noting when each check began and ended.

The critical path is the sum of the exclusive segments plus the slowest parallel segment:
- an exclusive segment is an exclusive or burst check (nothing else may run beside it), and the wait the
  scheduler owes before the next one on the same resource (its cooldown or the target's Retry-After,
  whichever is longer);
- the parallel segment is every other check: at best as long as the slowest of them, or as their total
  time divided by the concurrency when that is more.
Target: wall / critical path <= 1.2 (the scheduler wastes at most a fifth on idle slots and ordering).

Each run starts against a quiet target (the script waits out the limiter's window between runs).
--quick: the target app alone with the bundled HTTP checks (a 2 s limiter window and cooldown), to check
the script, not the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Figure, parser, report  # noqa: E402 - puts the repository on sys.path

from deploytui.core.checklist import bundled_checklist_path, load_checklist  # noqa: E402
from deploytui.core.config import Config, bundled_bindings_path  # noqa: E402
from deploytui.core.events import EngineEvent, RunBegan, RunEnded  # noqa: E402
from deploytui.core.spec import CheckSpec  # noqa: E402
from deploytui.core.status import Outcome  # noqa: E402
from deploytui.engine import Engine  # noqa: E402
from deploytui.services.project import load_config  # noqa: E402

QUICK_WINDOW = 2.0
"""Seconds of the limiter's window (and the bursts' cooldown) in --quick mode."""


@dataclasses.dataclass
class Run:
    wall: float
    critical: float
    exclusive: float
    parallel: float
    outcomes: list[Outcome]


def runnable(specs: list[CheckSpec]) -> list[CheckSpec]:
    from deploytui.checks.registry import get_kind

    return [s for s in specs if not get_kind(s.kind).is_action(s.params)]


async def one_run(config: Config, specs: list[CheckSpec], logs: Path) -> Run:
    engine = Engine(
        concurrency=config.concurrency,
        default_timeout=config.timeout,
        redactor=config.redactor(),
        env=config.environment(),
        vars=config.vars,
        base_dir=config.base_dir,
        log_dir=logs,
        checks=config.checks,
    )
    began: dict[str, float] = {}
    spans: dict[str, tuple[float, float]] = {}

    def on_event(event: EngineEvent) -> None:
        if isinstance(event, RunBegan):
            began[event.run_id] = time.monotonic()
        elif isinstance(event, RunEnded) and event.run_id in began:
            spans[event.run_id] = (began[event.run_id], time.monotonic())

    run_ids = [f"bench-{n}" for n in range(len(specs))]
    started = time.monotonic()
    outcomes = await engine.run_many(specs, on_event, run_ids=run_ids)
    wall = time.monotonic() - started

    exclusive_total = 0.0
    parallel: list[float] = []
    previous: tuple[frozenset[str], float, Outcome, CheckSpec] | None = None
    for rid, spec, outcome in sorted(
        zip(run_ids, specs, outcomes, strict=True), key=lambda t: spans.get(t[0], (0.0, 0.0))[0]
    ):
        if rid not in spans:
            continue  # blocked: never ran
        start, end = spans[rid]
        footing, cool, burst = engine.footing(spec)
        if spec.exclusive or burst:
            exclusive_total += end - start
            if previous is not None and previous[0] & cool:
                owed = max(previous[3].cooldown or 0.0, previous[2].retry_after or 0.0)
                exclusive_total += min(owed, max(0.0, start - previous[1]))
            previous = (cool, end, outcome, spec)
        else:
            parallel.append(end - start)
    parallel_segment = max(max(parallel, default=0.0), sum(parallel) / engine.concurrency)
    critical = exclusive_total + parallel_segment
    return Run(wall, critical, exclusive_total, parallel_segment, outcomes)


def quick_target() -> tuple[contextlib.ExitStack, dict[str, str]]:
    from tests.servers.target_app import TargetServer, build_app

    stack = contextlib.ExitStack()
    server = TargetServer(build_app(rate_window=QUICK_WINDOW)).start()
    stack.callback(server.stop)
    env = {
        "API_URL": server.url,
        "UI_URL": server.url,
        "GRAFANA_URL": f"{server.url}/grafana",
        "CORS_ORIGIN": "https://app.example.com",
    }
    return stack, env


def full_deployment(workdir: Path) -> tuple[contextlib.ExitStack, dict[str, str]]:
    from tests.servers.deployment import start_deployment

    stack = contextlib.ExitStack()
    try:
        deployment = start_deployment(workdir, stack)
    except BaseException:
        stack.close()
        raise
    return stack, deployment.env


def select(config: Config, quick: bool) -> list[CheckSpec]:
    specs = runnable(config.checks)
    if not quick:
        return specs
    # The target app alone: its HTTP checks (not TLS, which needs the HTTPS twin), the limiter's window
    # and the bursts' cooldown shortened together.
    chosen = []
    for spec in specs:
        if spec.kind != "http":
            continue
        if spec.cooldown is not None:
            spec = dataclasses.replace(spec, cooldown=QUICK_WINDOW)
        chosen.append(spec)
    return chosen


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    args = p.parse_args()
    if args.quick:
        args.repeat = min(args.repeat, 2)
    workdir = Path(tempfile.mkdtemp(prefix="dtui-bench-"))  # short: the podman socket path is limited
    saved_env = dict(os.environ)
    try:
        stack, env = quick_target() if args.quick else full_deployment(workdir)
        with stack:
            os.environ.update(env)
            os.chdir(workdir)
            checklist = load_checklist(bundled_checklist_path())
            config = load_config(bundled_bindings_path(), checklist)
            config.base_dir = workdir
            specs = select(config, args.quick)
            window = QUICK_WINDOW if args.quick else 12.0
            runs: list[Run] = []
            for n in range(max(1, args.repeat)):
                if n:
                    time.sleep(window + 1)  # a quiet target: the last burst's window has passed
                with tempfile.TemporaryDirectory(dir=workdir) as logs:
                    run = asyncio.run(one_run(config, specs, Path(logs)))
                bad = [
                    (s.item, o.status.value, o.reason)
                    for s, o in zip(specs, run.outcomes, strict=True)
                    if not o.status.is_passing
                ]
                if bad:
                    print(f"run {n + 1}: {len(bad)} check(s) did not pass, first: {bad[0]}", file=sys.stderr)
                runs.append(run)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(Path(__file__).resolve().parent.parent)
        shutil.rmtree(workdir, ignore_errors=True)

    ratios = [r.wall / r.critical for r in runs if r.critical > 0]
    spread = (max(ratios) - min(ratios)) if len(ratios) > 1 else 0.0
    stdev = statistics.pstdev(ratios) if len(ratios) > 1 else 0.0
    what = "the target app's HTTP checks (--quick)" if args.quick else "the whole loopback deployment"
    print(
        f"Critical path: {len(specs)} bundled checks against {what}, concurrency {config.concurrency};"
        f" {len(runs)} run(s), medians (ratio spread min-max)"
    )
    figures: list[Any] = [
        Figure.over("critical", "wall", [r.wall for r in runs], "s"),
        Figure.over("critical", "critical path", [r.critical for r in runs], "s"),
        Figure.over("critical", "exclusive segments (bursts, cooldowns)", [r.exclusive for r in runs], "s"),
        Figure.over("critical", "slowest parallel segment", [r.parallel for r in runs], "s"),
        Figure.over(
            "critical",
            "wall / critical path",
            ratios,
            "x",
            "<=",
            1.2,
            note=f"min {min(ratios):.3f}, max {max(ratios):.3f}",
        ),
        Figure("critical", "ratio spread (max - min)", spread, "x", note=f"stdev {stdev:.3f}"),
    ]
    report(figures, args.json)


if __name__ == "__main__":
    main()

"""Benchmark: an action printing 2,000,000 lines, inside the TUI.

    .venv/bin/python benchmarks/bench_streaming.py [--lines 2000000]

Runs deploytui under `run_test` (120x40) on a small checklist whose item "Flood" has a fenced block
`seq 1 N`, runs it as the operator does (x, then the confirm button), and while it streams presses
Down/Up through Pilot every ~60 ms, moving the tree cursor between the flood item and its neighbour.
Figures:
- lines/s ingested: N / (confirm → the run's end applied to the session);
- the baseline, measured in the same run (interleaved, a fresh process each): a bare Textual app with one
  `Log` (the run pane's max_lines, no highlighting) fed by a worker that runs the same `seq 1 N`, reads
  its pipe as the command kind does (READ_CHUNK) and writes the same batches (BATCH_LINES) to the Log;
- lines/s / the bare Log's lines/s — target >= 0.8 in every run;
- key latency p50/p99 while the output streams (from its first lines on): key sent → the tree's cursor
  moved (a watcher on cursor_line) — target p99 < 50 ms;
- peak RSS of the process (app + engine; `seq` itself is a child) — target < 150 MB;
- the run's log file on disk holds every line (count == N).
Each run is a fresh process so its peak RSS is its own.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, Figure, child_env, median, parser, percentile, report, scratch_dir

CHECKLIST = """\
# Streaming benchmark

## Release

- [ ] Before
- [ ] Flood
  ```bash
  seq 1 {lines}
  ```

- [ ] After
- [ ] Last
"""

KEY_INTERVAL = 0.06
"""Mean gap between key presses while the output streams (jittered ±50%)."""


async def measure(lines: int, workdir: Path) -> dict[str, float]:
    from deploytui.services.project import resolve
    from deploytui.tui.app import make_app
    from deploytui.tui.widgets.checklist_tree import ChecklistTree

    (workdir / "checklist.md").write_text(CHECKLIST.format(lines=lines), encoding="utf-8")
    checklist, config = resolve(str(workdir / "checklist.md"), None)
    app = make_app(
        checklist, config, workdir / "sessions", choice="new", operator="bench", settings_dir=workdir
    )
    flood = next(n.id for n in checklist.items() if n.title == "Flood")
    latencies: list[float] = []
    trace: list[tuple[float, str, float]] = []
    presses: list[asyncio.Task[None]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        tree = screen.query_one(ChecklistTree)
        tree.select_id(flood)
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        moved: list[float] = []
        screen.watch(tree, "cursor_line", lambda _value: moved.append(time.perf_counter()), init=False)
        started = time.perf_counter()
        # Not awaited: Pilot's click (like its press) returns only once the app is idle, which it is not
        # while the output streams; the keys start at once.
        presses.append(asyncio.create_task(pilot.click("#confirm")))
        # Keys are measured while the output streams: from its first lines in the run's buffer (the
        # dialog closing and the run starting come before, once per run).
        while time.perf_counter() - started < 30:
            buffer = screen.buffers.get(flood)
            if buffer is not None and buffer.lines:
                break
            await asyncio.sleep(0.001)

        def done() -> bool:
            state = app.live.session.items.get(flood)
            return state is not None and bool(state.actions) and not screen.pending_runs

        key = "down"
        while not done():
            await asyncio.sleep(KEY_INTERVAL * random.uniform(0.5, 1.5))
            if done():
                break
            before = len(moved)
            sent = time.perf_counter()
            presses.append(asyncio.create_task(pilot.press(key)))
            while len(moved) == before and not done():
                await asyncio.sleep(0.0005)
            if len(moved) > before:
                latencies.append((moved[before] - sent) * 1000)
                trace.append((round(sent - started, 3), key, round(latencies[-1], 1)))
                key = "up" if key == "down" else "down"
        ended = time.perf_counter()
        # Let Pilot's presses finish (the app is idle now) before the app shuts down: a key still queued
        # when the screens are gone fails the run.
        if presses:
            await asyncio.wait(presses, timeout=30)
        for task in presses:
            task.cancel()
        await asyncio.gather(*presses, return_exceptions=True)
        await pilot.pause()
        state = app.live.session.items[flood]
        log = app.live.dir / state.actions[-1].log
        exit_code = state.actions[-1].exit_code
    with log.open("rb") as fh:
        on_disk = sum(1 for line in fh if not line.startswith(b"# "))
    return {
        "lines_per_s": lines / (ended - started),
        "seconds": ended - started,
        "key_p50": percentile(latencies, 50),
        "key_p99": percentile(latencies, 99),
        "keys": len(latencies),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss_before,
        "on_disk": on_disk,
        "exit_code": exit_code,
        "trace": trace,
    }


async def measure_bare(lines: int) -> dict[str, float]:
    """The bare Log baseline: the same process output, read and batched the same way, into one Log."""
    from textual.app import App, ComposeResult
    from textual.widgets import Log

    from deploytui.checks.kinds.command import READ_CHUNK
    from deploytui.engine.runner import BATCH_LINES
    from deploytui.tui.presenters.runs import RUN_LOG_MAX_LINES

    timing: dict[str, float] = {}

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Log(max_lines=RUN_LOG_MAX_LINES, highlight=False)

        async def feed(self) -> None:
            log = self.query_one(Log)
            proc = await asyncio.create_subprocess_exec(
                "seq", "1", str(lines), stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
            )
            assert proc.stdout is not None
            batch: list[str] = []
            rest = ""
            count = 0
            while chunk := await proc.stdout.read(READ_CHUNK):
                pieces = (rest + chunk.decode("utf-8", errors="replace")).split("\n")
                rest = pieces.pop()
                batch.extend(pieces)
                if len(batch) >= BATCH_LINES:
                    count += len(batch)
                    log.write_lines(batch)
                    batch = []
                await asyncio.sleep(0)
            await proc.wait()
            if batch:
                count += len(batch)
                log.write_lines(batch)
            timing["count"] = count
            timing["ended"] = time.perf_counter()

    app = Bare()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        timing["started"] = time.perf_counter()
        worker = app.run_worker(app.feed(), exit_on_error=False)
        await worker.wait()
        await pilot.pause()
    if timing.get("count") != lines:
        raise SystemExit(f"the bare Log got {timing.get('count')} lines, not {lines}")
    return {"lines_per_s": lines / (timing["ended"] - timing["started"])}


def child(lines: int, bare: bool) -> None:
    if bare:
        print(json.dumps(asyncio.run(measure_bare(lines))))
        return
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        result = asyncio.run(measure(lines, Path(tmp)))
    print(json.dumps(result))


def _child(lines: int, bare: bool) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--lines", str(lines), *(["--bare"] if bare else [])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        timeout=900,
    )
    if out.returncode != 0:
        raise SystemExit(f"streaming child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=2_000_000)
    p.add_argument("--child", action="store_true", help=__import__("argparse").SUPPRESS)
    p.add_argument("--bare", action="store_true", help=__import__("argparse").SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.lines, args.repeat = 20_000, 1
    if args.child:
        child(args.lines, args.bare)
        return
    runs, bares = [], []
    for _ in range(max(1, args.repeat)):  # interleaved, so a noisy moment hits both
        bares.append(_child(args.lines, bare=True))
        runs.append(_child(args.lines, bare=False))
    pick = lambda key: median([r[key] for r in runs])  # noqa: E731
    every = lambda key: [r[key] for r in runs]  # noqa: E731
    print(
        f"Streaming: {args.lines:,} lines through an action in the TUI vs a bare Log fed the same batches, "
        f"{args.repeat} run(s) each; {int(pick('keys'))} key presses per run while it streamed, "
        f"{pick('seconds'):.1f} s per run"
    )
    report(
        [
            Figure.over("streaming", "lines/s ingested", every("lines_per_s"), "lines/s"),
            Figure.over(
                "streaming", "lines/s, bare Log baseline", [b["lines_per_s"] for b in bares], "lines/s"
            ),
            Figure.over(
                "streaming",
                "lines/s / bare Log lines/s",
                [r["lines_per_s"] / b["lines_per_s"] for r, b in zip(runs, bares, strict=True)],
                "x",
                ">=",
                0.8,
            ),
            Figure.over("streaming", "key latency p50 while streaming", every("key_p50"), "ms"),
            Figure.over("streaming", "key latency p99 while streaming", every("key_p99"), "ms", "<", 50),
            Figure.over(
                "streaming",
                "peak RSS",
                every("rss_mb"),
                "MB",
                "<",
                150,
                note=f"{pick('rss_before_mb'):.0f} MB before the run",
            ),
            Figure.over(
                "streaming", "lines in the run's log file", every("on_disk"), "lines", "==", args.lines
            ),
        ],
        args.json,
    )


if __name__ == "__main__":
    main()

"""Benchmark: a generated 5,000-item checklist (10 levels of nesting, 500 fenced blocks).

    .venv/bin/python benchmarks/bench_scale.py [--items 5000]

Figures (each start in a fresh process; median [min-max] of --repeat, the worst run judged):
- load time: `load_checklist` (read, sha256, parse) — target < 300 ms;
- first frame: `run_test` to the MainScreen's first frame (as bench_startup.py), against the baseline
  measured in the same run (interleaved): a bare Textual app showing a plain `Tree` of the same nodes
  (titles as labels, the same nesting, expanded) — target ratio <= 2;
- cursor moves: 100 Down presses through Pilot, ~30 ms apart (a held key repeats about that fast); each
  from the key sent to the tree's cursor moved — target p99 < 16 ms (one frame at 60 Hz);
- filter keystrokes: "/" then the characters of a query, one at a time; each from the key sent to the
  filter handled (matching ids computed, the tree rebuilt when they changed) — target p99 < 30 ms.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    Figure,
    child_env,
    generate_checklist,
    median,
    parser,
    percentile,
    report,
    scratch_dir,
)

TIMEOUT = 10.0
"""A key the app has not processed after this long counts as this long (the run goes on)."""

FILTER_QUERY = "step 12"
"""Typed one key at a time into the filter: broad at first (every item), then narrower."""


async def measure(path: Path, workdir: Path, moves: int) -> dict[str, object]:
    from deploytui.core.checklist import load_checklist
    from deploytui.services.project import resolve
    from deploytui.tui.app import make_app
    from deploytui.tui.screens.main import MainScreen
    from deploytui.tui.widgets.checklist_tree import ChecklistTree

    loads = []
    for _ in range(5):
        started = time.perf_counter()
        load_checklist(path)
        loads.append(time.perf_counter() - started)
    checklist, config = resolve(str(path), None)
    app = make_app(
        checklist, config, workdir / "sessions", choice="new", operator="bench", settings_dir=workdir
    )
    frames: list[float] = []
    original = app._display

    def display(screen, renderable):  # type: ignore[no-untyped-def]
        if not frames and renderable is not None and isinstance(screen, MainScreen):
            frames.append(time.perf_counter())
        return original(screen, renderable)

    app._display = display  # type: ignore[method-assign]
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        while not frames:
            await asyncio.sleep(0.001)
        first_frame = frames[0] - started
        await pilot.pause()
        screen = app.screen
        tree = screen.query_one(ChecklistTree)
        moved: list[float] = []
        screen.watch(tree, "cursor_line", lambda _v: moved.append(time.perf_counter()), init=False)
        cursor = []
        for _ in range(moves):
            before = len(moved)
            sent = time.perf_counter()
            tasks.append(asyncio.create_task(pilot.press("down")))
            while len(moved) == before and time.perf_counter() - sent < TIMEOUT:
                await asyncio.sleep(0.0005)
            cursor.append((moved[before] - sent) * 1000 if len(moved) > before else TIMEOUT * 1000)
            await asyncio.sleep(0.03)
        await pilot.press("slash")
        await pilot.pause()
        # The filter handler always computes the matching ids, then rebuilds the tree when they changed:
        # it is done at the later of the two (both wrapped to note the time they return).
        done_at: list[float] = []
        matched: list[float] = []
        matching_ids, rebuild = screen.matching_ids, screen._rebuild_tree

        def noting_match(query: str) -> set[str]:
            found = matching_ids(query)
            matched.append(time.perf_counter())
            done_at.append(matched[-1])
            return found

        def noting_rebuild(visible: set[str] | None = None) -> None:
            rebuild(visible)
            done_at.append(time.perf_counter())

        screen.matching_ids = noting_match  # type: ignore[method-assign]
        screen._rebuild_tree = noting_rebuild  # type: ignore[method-assign]
        keystrokes = []
        for char in FILTER_QUERY:
            before = len(matched)
            sent = time.perf_counter()
            tasks.append(asyncio.create_task(pilot.press(char)))
            while len(matched) == before and time.perf_counter() - sent < TIMEOUT:
                await asyncio.sleep(0.0005)
            await asyncio.sleep(0)  # the handler is synchronous: it has finished by now
            keystrokes.append((done_at[-1] - sent) * 1000 if len(matched) > before else TIMEOUT * 1000)
            await asyncio.sleep(0.03)
        shown = len(tree.visible_ids or ())
        # Let Pilot's presses finish (the app is idle now) before the app shuts down: a key still queued
        # when the screens are gone fails the run.
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pilot.pause()
    return {
        "load": median(loads) * 1000,
        "first_frame": first_frame * 1000,
        "cursor_p50": percentile(cursor, 50),
        "cursor_p99": percentile(cursor, 99),
        "filter_p50": percentile(keystrokes, 50),
        "filter_p99": percentile(keystrokes, 99),
        "filter_all": keystrokes,
        "cursor_all": cursor,
        "shown": shown,
        "nodes": len(checklist.nodes),
        "items": len(checklist.items()),
        "fences": len(checklist.actions()),
        "depth": max(n.depth for n in checklist.nodes.values()),
    }


async def measure_bare(path: Path) -> dict[str, float]:
    """The baseline: a bare app showing a plain Tree of the same nodes, run_test to its first frame."""
    from textual.app import App, ComposeResult
    from textual.widgets import Tree

    from deploytui.core.checklist import load_checklist

    checklist = load_checklist(path)

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            tree: Tree[str] = Tree(checklist.title or "Checklist")
            tree.show_root = False
            added = {}
            for node_id, node in checklist.nodes.items():  # document order: parents first
                parent = added[node.parent] if node.parent is not None else tree.root
                if node.children:
                    added[node_id] = parent.add(node.title, data=node_id, expand=True)
                else:
                    added[node_id] = parent.add_leaf(node.title, data=node_id)
            yield tree

    app = Bare()
    frames: list[float] = []
    original = app._display

    def display(screen, renderable):  # type: ignore[no-untyped-def]
        if not frames and renderable is not None:
            frames.append(time.perf_counter())
        return original(screen, renderable)

    app._display = display  # type: ignore[method-assign]
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)):
        while not frames:
            await asyncio.sleep(0.001)
    return {"first_frame": (frames[0] - started) * 1000, "nodes": len(checklist.nodes)}


def child(items: int, moves: int, bare: bool) -> None:
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        path = Path(tmp) / "big.md"
        path.write_text(generate_checklist(items, depth=10, fences=items // 10), encoding="utf-8")
        if bare:
            print(json.dumps(asyncio.run(measure_bare(path))))
        else:
            print(json.dumps(asyncio.run(measure(path, Path(tmp), moves))))


def _child(items: int, moves: int, bare: bool) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--items",
            str(items),
            "--moves",
            str(moves),
            *(["--bare"] if bare else []),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        timeout=600,
    )
    if out.returncode != 0:
        raise SystemExit(f"scale child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=5000)
    p.add_argument("--moves", type=int, default=100)
    p.add_argument("--child", action="store_true", help=__import__("argparse").SUPPRESS)
    p.add_argument("--bare", action="store_true", help=__import__("argparse").SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.items, args.moves, args.repeat = 200, 10, 1
    if args.child:
        child(args.items, args.moves, args.bare)
        return
    runs, bares = [], []
    for _ in range(max(1, args.repeat)):  # interleaved, so a noisy moment hits both
        bares.append(_child(args.items, args.moves, bare=True))
        runs.append(_child(args.items, args.moves, bare=False))
    every = lambda key: [r[key] for r in runs]  # noqa: E731
    r0 = runs[0]
    print(
        f"Scale: {r0['items']:,} items ({r0['nodes']:,} nodes, depth {r0['depth']}, "
        f"{r0['fences']} fenced blocks); "
        f"{args.moves} cursor moves, filter typed {FILTER_QUERY!r}; {args.repeat} fresh process(es) each "
        "for deploytui and a bare Tree of the same nodes"
    )
    report(
        [
            Figure.over("scale", "checklist load", every("load"), "ms", "<", 300),
            Figure.over("scale", "first frame (run_test to MainScreen frame)", every("first_frame"), "ms"),
            Figure.over(
                "scale", "first frame, bare app with the same Tree", [b["first_frame"] for b in bares], "ms"
            ),
            Figure.over(
                "scale",
                "first frame / bare Tree first frame",
                [r["first_frame"] / b["first_frame"] for r, b in zip(runs, bares, strict=True)],
                "x",
                "<=",
                2.0,
            ),
            Figure.over("scale", "cursor move p50", every("cursor_p50"), "ms"),
            Figure.over("scale", "cursor move p99", every("cursor_p99"), "ms", "<", 16),
            Figure.over("scale", "filter keystroke p50", every("filter_p50"), "ms"),
            Figure.over("scale", "filter keystroke p99", every("filter_p99"), "ms", "<", 30),
        ],
        args.json,
    )


if __name__ == "__main__":
    main()

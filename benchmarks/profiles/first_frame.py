"""What fills the first frame: deploytui against bench_startup.py's bare app, phase by phase.

    .venv/bin/python benchmarks/profiles/first_frame.py [--starts 8]

Each start is a fresh process (as in bench_startup.py): deploytui, the bare app, and the bare app with its
start-up heap frozen (`gc.freeze()`, as deploytui's constructor does), interleaved. In each,
Textual's compositor is timed: when its first layout (`reflow`) begins after `run_test` and how long it
takes, how long the first render of every widget (`_get_renders`) takes, and when the first frame reaches
the driver. Prints the medians [min-max] per app: the time to the first layout is start-up (the app,
its stylesheet, compose, mount); the layout and the render after it are the screen's content.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_startup  # noqa: E402
from _common import ROOT, child_env, scratch_dir  # noqa: E402


def child(kind: str) -> None:
    import asyncio

    import textual._compositor as compositor

    marks: dict[str, float] = {}
    started = [0.0]
    reflow, get_renders = compositor.Compositor.reflow, compositor.Compositor._get_renders

    def timed_reflow(self: Any, *args: Any, **kwargs: Any) -> Any:
        at = time.perf_counter()
        result = reflow(self, *args, **kwargs)
        if "layout_at" not in marks:
            marks["layout_at"] = (at - started[0]) * 1000
            marks["layout"] = (time.perf_counter() - at) * 1000
        return result

    def timed_renders(self: Any, *args: Any, **kwargs: Any) -> Any:
        at = time.perf_counter()
        renders = list(get_renders(self, *args, **kwargs))
        if "render" not in marks:
            marks["render"] = (time.perf_counter() - at) * 1000
        return iter(renders)

    compositor.Compositor.reflow = timed_reflow  # type: ignore[method-assign]
    compositor.Compositor._get_renders = timed_renders  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        if kind == "deploytui":
            from deploytui.tui.screens.main import MainScreen

            app, nodes = bench_startup.deploytui_app(tmp)
            is_target = lambda screen: isinstance(screen, MainScreen)  # noqa: E731
        else:
            import gc

            nodes = int(sys.argv[3])
            app, is_target = bench_startup.bare_app(0, nodes), (lambda screen: True)
            if kind == "bare-frozen":
                gc.freeze()  # as deploytui's constructor does
        seen = bench_startup._first_frame_hook(app, is_target)

        async def run() -> None:
            started[0] = time.perf_counter()
            async with app.run_test(size=(120, 40)):
                while not seen:
                    await asyncio.sleep(0.001)

        asyncio.run(run())
    marks["frame_at"] = (seen[0] - started[0]) * 1000
    marks["nodes"] = nodes
    print(json.dumps(marks))


def start(kind: str, nodes: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(nodes)],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=120, env=child_env(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--starts", type=int, default=8)
    args = p.parse_args()
    nodes = int(start("deploytui", 0)["nodes"])  # warm-up: bytecode, page cache
    kinds = ("deploytui", "bare", "bare-frozen")
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for n in range(args.starts):
        for kind in kinds if n % 2 == 0 else kinds[::-1]:
            runs[kind].append(start(kind, nodes))
    print(f"first frame, {args.starts} fresh starts each, interleaved; ms after run_test, median [min-max]")
    columns = (("layout_at", "first layout at"), ("layout", "layout took"), ("render", "first render took"),
               ("frame_at", "frame at"))
    print(f"{'':12}" + "".join(f"{title:>24}" for _key, title in columns))
    for kind, values in runs.items():
        cells = []
        for key, _title in columns:
            xs = [v[key] for v in values]
            cells.append(f"{statistics.median(xs):.1f} [{min(xs):.1f}-{max(xs):.1f}]")
        print(f"{kind:12}" + "".join(f"{cell:>24}" for cell in cells))


if __name__ == "__main__":
    main()

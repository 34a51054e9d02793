"""Benchmark: start-up as the operator feels it.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 5]

1. Time to first frame of deploytui on the bundled checklist (a new session in a temp sessions dir) vs
   a bare Textual app with the same widget count and a 100-node Tree, both under `run_test`. Each start
   is a fresh process (cold caches for both); the time runs from `run_test` (modules imported, app
   constructed, for deploytui the checklist and config loaded) to the first frame the app's screen
   (deploytui: the MainScreen) hands to the driver. Target: ratio <= 1.3. Also shown: the cold figure,
   from the process's first line (imports, checklist and config included) to that frame.
2. Wall time of `deploytui list` and `deploytui --help` vs `python -c pass` (fresh processes), and the
   modules they load: neither may import textual, qdrant_client or google.genai.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

from _common import ROOT, Figure, child_env, median, parser, report, scratch_dir

HEAVY = ("textual", "qdrant_client", "google.genai")
"""Modules the headless commands must never load."""

TREE_NODES = 100
"""Nodes in the baseline app's Tree."""


def _first_frame_hook(app, is_target) -> list[float]:  # type: ignore[no-untyped-def]
    """Record the time of the first frame the target screen renders (App._display gets every frame)."""
    seen: list[float] = []
    original = app._display

    def display(screen, renderable):  # type: ignore[no-untyped-def]
        if not seen and renderable is not None and is_target(screen):
            seen.append(time.perf_counter())
        return original(screen, renderable)

    app._display = display
    return seen


async def _measure(app, is_target, cold_start: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Run the app under run_test until the target screen's first frame: seconds from run_test (warm:
    modules imported, app constructed) and from the process's first line (cold: imports included)."""
    import asyncio

    seen = _first_frame_hook(app, is_target)
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)):
        for _ in range(5000):
            if seen:
                break
            await asyncio.sleep(0.001)
        widgets = len(list(app.screen.query("*")))
    if not seen:
        raise SystemExit("no frame rendered within 5 s")
    return {"first_frame": seen[0] - started, "cold": seen[0] - cold_start, "widgets": widgets}


def child_deploytui(cold_start: float) -> dict[str, float]:
    import asyncio
    from pathlib import Path

    from deploytui.core.checklist import bundled_checklist_path
    from deploytui.services.project import resolve
    from deploytui.tui.app import make_app
    from deploytui.tui.screens.main import MainScreen

    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        checklist, config = resolve(str(bundled_checklist_path()), None)
        app = make_app(
            checklist, config, Path(tmp) / "sessions", choice="new", operator="bench", settings_dir=Path(tmp)
        )
        result = asyncio.run(_measure(app, lambda s: isinstance(s, MainScreen), cold_start))
        result["nodes"] = len(checklist.nodes)
        return result


def child_bare(cold_start: float, pad: int) -> dict[str, float]:
    import asyncio

    import textual.app
    from textual.containers import Horizontal, Vertical
    from textual.widgets import Footer, Input, Log, Static, TabbedContent, TabPane, Tree

    class Bare(textual.app.App[None]):
        """deploytui's layout in plain widgets: header, filter, tree, detail, two log tabs, footer."""

        def compose(self):  # type: ignore[no-untyped-def]
            yield Static("header", id="header")
            with Horizontal():
                with Vertical():
                    yield Input(placeholder="filter")
                    tree: Tree[str] = Tree("Checklist")
                    tree.show_root = False
                    node = tree.root
                    for n in range(TREE_NODES):
                        if n % 10 == 0:
                            node = tree.root.add(f"Section {n // 10}", expand=True)
                        else:
                            node.add_leaf(f"item {n}")
                    yield tree
                with Vertical():
                    yield Static("detail", id="detail")
                    with TabbedContent():
                        with TabPane("Run"):
                            yield Log()
                        with TabPane("Activity"):
                            yield Log()
                    for n in range(pad):
                        yield Static(f"pad {n}")
            yield Footer()

    return asyncio.run(_measure(Bare(), lambda s: True, cold_start))


def child(kind: str, pad: int) -> None:
    cold_start = time.perf_counter()
    result = child_deploytui(cold_start) if kind == "deploytui" else child_bare(cold_start, pad)
    print(json.dumps(result))


def _run_child(kind: str, pad: int = 0) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--pad", str(pad)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
        env=child_env(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, cwd=ROOT, timeout=60, env=child_env())
    return time.perf_counter() - started


def _loaded(args: list[str]) -> list[str]:
    probe = (
        "import sys, contextlib, io\n"
        "from deploytui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({args!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return [m for m in out.stdout.strip().split(",") if m]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--child", choices=("deploytui", "bare"), help=argparse_hidden())
    p.add_argument("--pad", type=int, default=0, help=argparse_hidden())
    args = p.parse_args()
    if args.child:
        child(args.child, args.pad)
        return
    repeat = 1 if args.quick else max(args.repeat, 1)
    _run_child("deploytui")  # warm-up: bytecode cache, page cache
    widgets = int(_run_child("deploytui")["widgets"])
    pad = max(0, widgets - int(_run_child("bare")["widgets"]))
    deploy, bare = [], []
    for _ in range(repeat):  # interleaved, so a noisy moment hits both
        deploy.append(_run_child("deploytui"))
        bare.append(_run_child("bare", pad))
    ratios = [d["first_frame"] / b["first_frame"] for d, b in zip(deploy, bare, strict=True)]
    print(
        f"Start-up: deploytui on the bundled checklist ({int(deploy[0]['nodes'])} nodes, {widgets} widgets) "
        f"vs a bare app ({int(bare[0]['widgets'])} widgets, {TREE_NODES}-node Tree); "
        f"{repeat} fresh processes each"
    )
    python = [sys.executable, "-c", "pass"]
    cli = [sys.executable, "-m", "deploytui"]
    walls: dict[str, list[float]] = {"pass": [], "list": [], "help": []}
    for _ in range(repeat + 2):
        walls["pass"].append(_wall(python))
        walls["list"].append(_wall([*cli, "list"]))
        walls["help"].append(_wall([*cli, "--help"]))
    heavy_list = _loaded(["list"])
    heavy_help = _loaded(["--help"])
    base = median(walls["pass"])
    report(
        [
            Figure(
                "startup", "first frame, deploytui", median([d["first_frame"] for d in deploy]) * 1000, "ms"
            ),
            Figure(
                "startup",
                "first frame, bare Textual app",
                median([b["first_frame"] for b in bare]) * 1000,
                "ms",
            ),
            Figure("startup", "first frame ratio deploytui / bare", median(ratios), "x", "<=", 1.3),
            Figure(
                "startup",
                "cold start to first frame, deploytui",
                median([d["cold"] for d in deploy]) * 1000,
                "ms",
                note="imports, checklist and config included",
            ),
            Figure(
                "startup", "cold start to first frame, bare", median([b["cold"] for b in bare]) * 1000, "ms"
            ),
            Figure(
                "startup",
                "cold start ratio deploytui / bare",
                median([d["cold"] / b["cold"] for d, b in zip(deploy, bare, strict=True)]),
                "x",
            ),
            Figure("startup", "python -c pass", base * 1000, "ms"),
            Figure("startup", "deploytui list", median(walls["list"]) * 1000, "ms"),
            Figure("startup", "deploytui list / python -c pass", median(walls["list"]) / base, "x"),
            Figure("startup", "deploytui --help", median(walls["help"]) * 1000, "ms"),
            Figure("startup", "deploytui --help / python -c pass", median(walls["help"]) / base, "x"),
            Figure(
                "startup",
                "heavy modules loaded by list, --help",
                len(heavy_list) + len(heavy_help),
                "",
                "==",
                0,
                note=", ".join(heavy_list + heavy_help) or "none of " + ", ".join(HEAVY),
            ),
        ],
        args.json,
    )


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()

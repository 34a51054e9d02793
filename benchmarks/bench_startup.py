"""Benchmark: start-up as the operator feels it.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 5]

1. Time to first frame of deploytui on the bundled checklist (a new session in a temp sessions dir) vs
   a bare Textual app with the same widgets as its main screen (header, filter Input, a Tree of as many
   nodes, detail, a Static of tab labels over two Logs with one hidden, Footer, padded to the same
   widget count), both under `run_test`. Each start is a fresh process (cold caches for both,
   interleaved); the time runs from `run_test` (modules imported, app constructed, for deploytui the
   checklist and config loaded) to the first frame the app's screen (deploytui: the MainScreen) hands
   to the driver. Target: ratio <= 1.1 in every run. Also shown:
   the cold figure, from the process's first line (imports, checklist and config included) to that frame,
   and the bare app against a second start of itself in the same run (the ratio a single start's noise
   alone gives on this machine), and deploytui against the bare app with its start-up heap frozen
   (`gc.freeze()` before it runs, as deploytui's constructor does): a plain bare app pays, inside its
   first frame, a full collection of what start-up allocated (~15 ms here) that deploytui avoids, so
   this ratio is what deploytui's own work costs over Textual's for the same widgets.
2. Wall time of `deploytui list` and `deploytui --help` vs `python -c pass` (fresh processes), and the
   modules they load: neither may import textual, qdrant_client or google.genai.
3. Headless `deploytui check` on the bundled bindings with every check failing fast (each URL points at
   a closed port on 127.0.0.1, nothing listens) vs the slowest single check's process: per client kind in
   use, a `python -c` that imports that kind's client and fails against the closed port (interpreter
   start-up included). Target: ratio <= 1.5 in every run.
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
"""Nodes in the baseline app's Tree when not told (the benchmark gives it the bundled checklist's count)."""

PROBES = {
    "http": "import httpx\ntry:\n    httpx.get(URL, timeout=5)\nexcept httpx.HTTPError:\n    pass\n",
    "postgres": (
        "import psycopg\ntry:\n    psycopg.connect(DSN, connect_timeout=5)\nexcept psycopg.Error:\n    pass\n"
    ),
    "redis": (
        "import redis\ntry:\n    redis.Redis.from_url(REDIS).ping()\nexcept redis.RedisError:\n    pass\n"
    ),
    "qdrant": (
        "import asyncio\nfrom qdrant_client import AsyncQdrantClient\n"
        "async def main():\n"
        "    client = AsyncQdrantClient(url=URL, api_key='bench-key', timeout=5, check_compatibility=False)\n"
        "    try:\n        await client.get_collections()\n    except Exception:\n        pass\n"
        "asyncio.run(main())\n"
    ),
    "gemini": (
        "from google import genai\nfrom google.genai import types\n"
        "client = genai.Client(api_key='bench-key', http_options=types.HttpOptions(base_url=URL,"
        " retry_options=types.HttpRetryOptions(attempts=1)))\n"
        "try:\n    list(client.models.list())\nexcept Exception:\n    pass\n"
    ),
    "docker": (
        "import docker\ntry:\n    docker.DockerClient(base_url=DOCKER, timeout=5).ping()\n"
        "except docker.errors.DockerException:\n    pass\n"
    ),
    "tls": (
        "import socket, ssl\nctx = ssl.create_default_context()\ntry:\n"
        "    socket.create_connection(('127.0.0.1', PORT), timeout=5)\nexcept OSError:\n    pass\n"
    ),
}
"""Per client kind the bundled bindings use: the smallest process that imports its client and fails fast
against the closed port (the floor for a `deploytui check` that runs that kind)."""


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def failing_env(port: int, workdir: str) -> dict[str, str]:
    """The bundled bindings' variables, every URL at the closed port (secrets long enough to be masked)."""
    url = f"http://127.0.0.1:{port}"
    env = child_env()
    env.update(
        {
            "API_URL": url,
            "UI_URL": url,
            "PUBLIC_URL": f"https://127.0.0.1:{port}",
            "CORS_ORIGIN": "https://app.example.com",
            "DATABASE_URL": f"postgresql://bench:bench-password@127.0.0.1:{port}/app",
            "REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "QDRANT_URL": url,
            "QDRANT_API_KEY": "bench-qdrant-key",
            "GEMINI_API_KEY": "bench-gemini-key",
            "GEMINI_BASE_URL": url,
            "PROMETHEUS_URL": url,
            "GRAFANA_URL": url,
            "DOCKER_HOST": f"tcp://127.0.0.1:{port}",
            "SECRET_KEY": "bench-secret-key",
            "SLACK_WEBHOOK_URL": f"{url}/hook",
            "APP_DIR": workdir,
            "BACKUP_PATH": f"{workdir}/backups/*.dump",
        }
    )
    return env


def headless(repeat: int) -> tuple[list[float], list[float], str, int]:
    """(`deploytui check` walls, slowest probe's walls, which kind that is, checks run): interleaved."""
    from deploytui.core.checklist import bundled_checklist_path, load_checklist
    from deploytui.core.config import bundled_bindings_path
    from deploytui.services.project import load_config

    config = load_config(bundled_bindings_path(), load_checklist(bundled_checklist_path()))
    kinds = sorted({c.kind for c in config.checks} & PROBES.keys())
    checks, probes = [], []
    slowest_kind = ""
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        port = closed_port()
        env = failing_env(port, tmp)
        consts = (
            f"URL = 'http://127.0.0.1:{port}'\nPORT = {port}\nDSN = {env['DATABASE_URL']!r}\n"
            f"REDIS = {env['REDIS_URL']!r}\nDOCKER = {env['DOCKER_HOST']!r}\n"
        )
        argv = [sys.executable, "-m", "deploytui", "check", "--sessions-dir", f"{tmp}/sessions"]
        for n in range(repeat + 1):  # the first round warms the bytecode and page caches
            started = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, cwd=tmp, env=env, timeout=300)
            wall = time.perf_counter() - started
            if proc.returncode != 1:
                raise SystemExit(f"deploytui check exited {proc.returncode}:\n{proc.stderr.decode()[-3000:]}")
            per_kind: dict[str, float] = {}
            for kind in kinds:
                started = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-c", consts + PROBES[kind]],
                    check=True,
                    capture_output=True,
                    cwd=tmp,
                    env=env,
                    timeout=120,
                )
                per_kind[kind] = time.perf_counter() - started
            if n:
                checks.append(wall)
                slowest_kind = max(per_kind, key=lambda k: per_kind[k])
                probes.append(per_kind[slowest_kind])
    return checks, probes, slowest_kind, len(config.checks)


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


def deploytui_app(tmp: str):  # type: ignore[no-untyped-def]
    """deploytui on the bundled checklist, a new session in `tmp` (imported here, in the child)."""
    from pathlib import Path

    from deploytui.core.checklist import bundled_checklist_path
    from deploytui.services.project import resolve
    from deploytui.tui.app import make_app

    checklist, config = resolve(str(bundled_checklist_path()), None)
    sessions = Path(tmp) / "sessions"
    app = make_app(checklist, config, sessions, choice="new", operator="bench", settings_dir=Path(tmp))
    return app, len(checklist.nodes)


def child_deploytui(cold_start: float) -> dict[str, float]:
    import asyncio

    from deploytui.tui.screens.main import MainScreen

    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        app, nodes = deploytui_app(tmp)
        result = asyncio.run(_measure(app, lambda s: isinstance(s, MainScreen), cold_start))
        result["nodes"] = nodes
        return result


def bare_app(pad: int, nodes: int):  # type: ignore[no-untyped-def]
    """The bare app: deploytui's main screen in plain Textual widgets (imported here, in the child)."""
    import textual.app
    from textual.containers import Horizontal, Vertical
    from textual.widgets import Footer, Input, Log, Static, Tree

    class Bare(textual.app.App[None]):
        """deploytui's layout in plain widgets: header, filter, tree, detail, tabs over two logs, footer."""

        def compose(self):  # type: ignore[no-untyped-def]
            yield Static("header", id="header")
            with Horizontal():
                with Vertical():
                    yield Input(placeholder="filter")
                    tree: Tree[str] = Tree("Checklist")
                    tree.show_root = False
                    node = tree.root
                    for n in range(nodes):
                        if n % 10 == 0:
                            node = tree.root.add(f"Section {n // 10}", expand=True)
                        else:
                            node.add_leaf(f"item {n}")
                    yield tree
                with Vertical():
                    yield Static("detail", id="detail")
                    with Vertical():  # deploytui's LogPanes: one line of tab labels over two logs, one shown
                        yield Static(" Run  Activity ")
                        yield Log()
                        hidden = Log()
                        hidden.display = False
                        yield hidden
                    for n in range(pad):
                        yield Static(f"pad {n}")
            yield Footer()

    return Bare()


def child_bare(cold_start: float, pad: int, nodes: int, *, freeze: bool = False) -> dict[str, float]:
    """`freeze`: the heap made so far (imports, the app) moved out of the collector's sight before the
    app runs, as deploytui's constructor does (`gc.freeze`): a plain bare app pays, inside its first
    frame, the full collection that start-up's allocations trigger (~15 ms here); this one does not."""
    import asyncio
    import gc

    app = bare_app(pad, nodes)
    if freeze:
        gc.freeze()
    return asyncio.run(_measure(app, lambda s: True, cold_start))


def child(kind: str, pad: int, nodes: int) -> None:
    cold_start = time.perf_counter()
    if kind == "deploytui":
        result = child_deploytui(cold_start)
    else:
        result = child_bare(cold_start, pad, nodes, freeze=kind == "bare-frozen")
    print(json.dumps(result))


def _run_child(kind: str, pad: int = 0, nodes: int = TREE_NODES) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--pad", str(pad), "--nodes", str(nodes)],
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
    p.add_argument("--child", choices=("deploytui", "bare", "bare-frozen"), help=argparse_hidden())
    p.add_argument("--pad", type=int, default=0, help=argparse_hidden())
    p.add_argument("--nodes", type=int, default=TREE_NODES, help=argparse_hidden())
    args = p.parse_args()
    if args.child:
        child(args.child, args.pad, args.nodes)
        return
    repeat = 1 if args.quick else max(args.repeat, 1)
    _run_child("deploytui")  # warm-up: bytecode cache, page cache
    probe = _run_child("deploytui")
    widgets, nodes = int(probe["widgets"]), int(probe["nodes"])
    pad = max(0, widgets - int(_run_child("bare", 0, nodes)["widgets"]))
    deploy, bare, again, frozen = [], [], [], []
    for n in range(repeat):  # interleaved, so a noisy moment hits all four; every other run reversed
        starts = [("deploytui", deploy), ("bare", bare), ("bare", again), ("bare-frozen", frozen)]
        for kind, runs in starts if n % 2 == 0 else starts[::-1]:
            runs.append(_run_child(kind, 0 if kind == "deploytui" else pad, nodes))
    ratios = [d["first_frame"] / b["first_frame"] for d, b in zip(deploy, bare, strict=True)]
    noise = [a["first_frame"] / b["first_frame"] for a, b in zip(again, bare, strict=True)]
    over_frozen = [d["first_frame"] / f["first_frame"] for d, f in zip(deploy, frozen, strict=True)]
    checks, probes, slowest_kind, n_checks = headless(repeat)
    print(
        f"Start-up: deploytui on the bundled checklist ({nodes} nodes, {widgets} widgets) "
        f"vs a bare app ({int(bare[0]['widgets'])} widgets, {nodes}-node Tree); "
        f"headless check of {n_checks} bindings, all failing fast; {repeat} fresh processes each"
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
    ms = lambda runs, key: [r[key] * 1000 for r in runs]  # noqa: E731
    report(
        [
            Figure.over("startup", "first frame, deploytui", ms(deploy, "first_frame"), "ms"),
            Figure.over(
                "startup", "first frame, bare app with the same widgets", ms(bare, "first_frame"), "ms"
            ),
            Figure.over("startup", "first frame ratio deploytui / bare", ratios, "x", "<=", 1.1),
            Figure.over(
                "startup",
                "first frame ratio bare / bare",
                noise,
                "x",
                note="the same bare app started twice in the run: what a single start's noise is here",
            ),
            Figure.over(
                "startup",
                "first frame, bare app with its start-up heap frozen",
                ms(frozen, "first_frame"),
                "ms",
                note="gc.freeze() before it runs, as deploytui's constructor does: no full collection inside",
            ),
            Figure.over(
                "startup",
                "first frame ratio deploytui / frozen bare",
                over_frozen,
                "x",
                note="what deploytui's own work costs over Textual's for the same widgets",
            ),
            Figure.over(
                "startup",
                "cold start to first frame, deploytui",
                ms(deploy, "cold"),
                "ms",
                note="imports, checklist and config included",
            ),
            Figure.over("startup", "cold start to first frame, bare", ms(bare, "cold"), "ms"),
            Figure.over(
                "startup",
                "cold start ratio deploytui / bare",
                [d["cold"] / b["cold"] for d, b in zip(deploy, bare, strict=True)],
                "x",
            ),
            Figure.over("startup", "python -c pass", [w * 1000 for w in walls["pass"]], "ms"),
            Figure.over("startup", "deploytui list", [w * 1000 for w in walls["list"]], "ms"),
            Figure("startup", "deploytui list / python -c pass", median(walls["list"]) / base, "x"),
            Figure.over("startup", "deploytui --help", [w * 1000 for w in walls["help"]], "ms"),
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
            Figure.over(
                "startup", "headless check, every check failing fast", [w * 1000 for w in checks], "ms"
            ),
            Figure.over(
                "startup",
                "slowest single check's process",
                [w * 1000 for w in probes],
                "ms",
                note=f"{slowest_kind}: import its client, fail on the closed port",
            ),
            Figure.over(
                "startup",
                "headless check / slowest single check's process",
                [c / p for c, p in zip(checks, probes, strict=True)],
                "x",
                "<=",
                1.5,
            ),
        ],
        args.json,
    )


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()

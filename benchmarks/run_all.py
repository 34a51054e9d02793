"""Run every benchmark, print one table of figures beside their targets, write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_all.py [--repeat 3] [--quick] [--only startup,scale] [--no-write]

Each benchmark runs as its own process (its memory and start-up are its own) and hands its figures over
as JSON. Figures are medians of --repeat runs; targets are those of the issue "Benchmarks and the speed
an operator feels" (ratios to a baseline measured in the same run where the machine's noise matters).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import ROOT, Figure, _fmt, child_env, row

HERE = Path(__file__).resolve().parent

BENCHES = {
    "startup": "bench_startup.py",
    "parallel": "bench_parallel_http.py",
    "streaming": "bench_streaming.py",
    "saves": "bench_saves.py",
    "scale": "bench_scale.py",
    "critical": "bench_critical_path.py",
    "store": "bench_store.py",
}
"""Name -> script, in the order they run and appear."""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = next(
            int(line.split()[1]) // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f", {mem / 1024:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        memory = ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores{memory}; "
        f"Python {platform.python_version()}; load average {load:.2f} at the start"
    )


def run(name: str, args: argparse.Namespace) -> tuple[list[Figure], str, float]:
    script = HERE / BENCHES[name]
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    argv = [sys.executable, str(script), "--json", str(out), "--repeat", str(args.repeat)]
    if args.quick:
        argv.append("--quick")
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=child_env(), timeout=3600)
    elapsed = time.monotonic() - started
    try:
        if proc.returncode != 0:
            raise SystemExit(f"{script.name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        data = json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)
    keys = ("bench", "name", "value", "unit", "op", "limit", "note")
    figures = [Figure(**{k: d[k] for k in keys}) for d in data]
    headline = next((line for line in proc.stdout.splitlines() if line and not line.startswith(" ")), "")
    return figures, headline, elapsed


def markdown(results: dict[str, tuple[list[Figure], str, float]], args: argparse.Namespace) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {now}",
        f"- Machine: {machine()}",
        f"- Command: `.venv/bin/python benchmarks/run_all.py --repeat {args.repeat}"
        + (" --quick" if args.quick else "")
        + "` (each figure the median of the runs; other work shared the machine)",
        "",
        "| Benchmark | Figure | Value | Target | Verdict |",
        "|---|---|---:|---|---|",
    ]
    for name, (figures, _headline, _elapsed) in results.items():
        for f in figures:
            value = f"{_fmt(f.value)} {f.unit}".strip()
            note = f" ({f.note})" if f.note else ""
            lines.append(f"| {name} | {f.name}{note} | {value} | {f.target} | {f.verdict} |")
    lines += ["", "## What each run measured", ""]
    for name, (_figures, headline, elapsed) in results.items():
        lines.append(f"- **{name}** ({elapsed:.0f} s): {headline}")
    lines += [
        "",
        "Scripts: `benchmarks/bench_*.py` (each runs alone, `--help` says what it measures and how).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="runs per figure (medians reported)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the scripts, not the targets")
    p.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHES))
    p.add_argument("--no-write", action="store_true", help="do not write benchmarks/RESULTS.md")
    args = p.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}")
    print(machine(), flush=True)
    results: dict[str, tuple[list[Figure], str, float]] = {}
    for name in names:
        print(f"running {name} ...", flush=True)
        results[name] = run(name, args)
    print()
    missed = 0
    for figures, headline, _elapsed in results.values():
        print(headline)
        for figure in figures:
            print(row(figure))
            missed += figure.ok is False
    print(f"\n{missed} target(s) missed" if missed else "\nevery target met")
    if not args.no_write:
        path = HERE / "RESULTS.md"
        path.write_text(markdown(results, args), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

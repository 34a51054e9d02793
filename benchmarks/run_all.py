"""Run every benchmark, print one table of figures beside their targets, write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_all.py [--repeat 3] [--runs 1] [--quick] [--only startup,scale]
                                           [--no-write]

Each benchmark runs as its own process (its memory and start-up are its own) and hands its figures over
as JSON. Each figure is the median [min-max] of --repeat runs and PASSes only if its worst run meets its
target; targets are ratios to a baseline measured in the same run where the machine's noise matters.
--runs N repeats the whole suite N times in a row and says, per figure, in how many passes it held
(the issue's "five consecutive run_all.py --repeat 5 runs" is `--repeat 5 --runs 5`). The load average
is printed before and after each benchmark. Exit status 1 when a target was missed (not with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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

WHERE_HEADING = "## Where the time goes"
"""RESULTS.md from this heading on is written by hand (from profiles); regenerating the file keeps it."""


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
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores{memory}; "
        f"Python {platform.python_version()}"
    )


def load() -> float:
    """The 1-minute load average (0 where the system does not say)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


@dataclass
class Result:
    """One benchmark script's run: its figures, its one-line description, how long, the load around it."""

    figures: list[Figure]
    headline: str
    elapsed: float
    load_before: float
    load_after: float


def run(name: str, args: argparse.Namespace) -> Result:
    script = HERE / BENCHES[name]
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    argv = [sys.executable, str(script), "--json", str(out), "--repeat", str(args.repeat)]
    if args.quick:
        argv.append("--quick")
    before = load()
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=child_env(), timeout=3600)
    elapsed = time.monotonic() - started
    try:
        if proc.returncode != 0:
            raise SystemExit(f"{script.name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        data = json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)
    keys = ("bench", "name", "value", "unit", "op", "limit", "note", "runs")
    figures = [Figure(**{k: d[k] for k in keys if k in d}) for d in data]
    headline = next((line for line in proc.stdout.splitlines() if line and not line.startswith(" ")), "")
    return Result(figures, headline, elapsed, before, load())


def command() -> str:
    """The exact command line that is running (the interpreter relative to the checkout when inside it)."""
    exe = Path(sys.executable)
    try:
        python = str(exe.relative_to(ROOT)) if not exe.is_absolute() else os.path.relpath(exe, ROOT)
    except ValueError:
        python = str(exe)
    if python.startswith(".."):
        python = str(exe)
    return shlex.join([python, "benchmarks/run_all.py", *sys.argv[1:]])


def _value(f: Figure) -> str:
    return f"{_fmt(f.value)} {f.unit}".strip()


def _range(f: Figure) -> str:
    return f"{_fmt(f.low)}\u2013{_fmt(f.high)}" if len(f.measured) > 1 else ""


def kept_section(path: Path) -> str:
    """The hand-written part of RESULTS.md (from WHERE_HEADING on), which regeneration keeps."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    at = text.find(WHERE_HEADING)
    return text[at:].rstrip() + "\n" if at >= 0 else ""


def markdown(passes: list[dict[str, Result]], args: argparse.Namespace, loads: tuple[float, float]) -> str:
    """RESULTS.md: the last pass's figures in full; with several passes, each figure's verdict per pass."""
    results = passes[-1]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {now}",
        f"- Machine: {machine()}",
        f"- Load average (1 min): {loads[0]:.2f} before, {loads[1]:.2f} after",
        f"- Command: `{command()}`",
        f"- Each figure: median [min\u2013max] of {args.repeat} run(s); PASS only if the worst run meets "
        "the target."
        + (f" Figures below are from the last of {len(passes)} passes." if len(passes) > 1 else ""),
        "",
        "| Benchmark | Figure | Median | Range | Target | Worst | Verdict |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for name, result in results.items():
        for f in result.figures:
            note = f" ({f.note})" if f.note else ""
            worst = _fmt(f.worst) if f.limit is not None else ""
            cells = [name, f.name + note, _value(f), _range(f), f.target, worst, f.verdict]
            lines.append("| " + " | ".join(cells) + " |")
    if len(passes) > 1:
        lines += [
            "",
            f"## Every target over {len(passes)} consecutive passes",
            "",
            "| Benchmark | Figure | Target | Worst run of each pass | Passes met |",
            "|---|---|---|---|---|",
        ]
        for bench, name, figures in _by_figure(passes):
            if figures[0].limit is None:
                continue
            worsts = ", ".join(_fmt(f.worst) for f in figures)
            met = sum(1 for f in figures if f.ok)
            lines.append(f"| {bench} | {name} | {figures[0].target} | {worsts} | {met}/{len(figures)} |")
    lines += ["", "## What each run measured", ""]
    for name, result in results.items():
        lines.append(
            f"- **{name}** ({result.elapsed:.0f} s, load {result.load_before:.2f} \u2192 "
            f"{result.load_after:.2f}): {result.headline}"
        )
    lines += [
        "",
        "Scripts: `benchmarks/bench_*.py` (each runs alone, `--help` says what it measures and how).",
        "",
    ]
    kept = kept_section(HERE / "RESULTS.md")
    if kept:
        lines += [kept]
    return "\n".join(lines)


def _by_figure(passes: list[dict[str, Result]]) -> list[tuple[str, str, list[Figure]]]:
    """Each figure (bench, name) with its Figure from every pass that reported it, in first-seen order."""
    seen: dict[tuple[str, str], list[Figure]] = {}
    for results in passes:
        for name, result in results.items():
            for f in result.figures:
                seen.setdefault((name, f.name), []).append(f)
    return [(bench, name, figures) for (bench, name), figures in seen.items()]


def summary(passes: list[dict[str, Result]]) -> tuple[list[str], int]:
    """Lines saying PASS/FAIL per figure with a target (over every pass), and how many missed."""
    lines = [
        "",
        f"Verdicts ({len(passes)} pass(es); a figure passes only if its worst run meets the target):",
    ]
    missed = 0
    for bench, name, figures in _by_figure(passes):
        if figures[0].limit is None:
            continue
        met = sum(1 for f in figures if f.ok)
        judged = sum(1 for f in figures if f.ok is not None)
        verdict = "PASS" if judged and met == judged else ("n/a" if not judged else "FAIL")
        missed += verdict == "FAIL"
        worsts = " ".join(_fmt(f.worst) for f in figures)
        times = f" in {met}/{len(figures)} passes" if len(passes) > 1 else ""
        lines.append(
            f"  {verdict:<4}  {bench:<9} {name:<46} target {figures[0].target:<12} worst {worsts}{times}"
        )
    lines.append(f"\n{missed} figure(s) missed their target" if missed else "\nevery target met in every run")
    return lines, missed


def compiled() -> None:
    """deploytui's bytecode written first, as `pip install` writes it: a process started with
    PYTHONDONTWRITEBYTECODE=1 (this machine sets it) otherwise compiles every module it imports, each
    time (~60 ms of each `deploytui check` and of each worker), which no installed copy pays."""
    import compileall

    compileall.compile_dir(str(ROOT / "deploytui"), quiet=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="runs per figure (median [min-max], worst judged)")
    p.add_argument(
        "--runs",
        type=int,
        default=1,
        help="consecutive passes of the whole suite (the issue's five consecutive runs: --runs 5); "
        "RESULTS.md holds the last pass's figures and every pass's verdicts",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the scripts, not the targets")
    p.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHES))
    p.add_argument("--no-write", action="store_true", help="do not write benchmarks/RESULTS.md")
    args = p.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}")
    print(f"{machine()}; load average {load():.2f} at the start", flush=True)
    print(f"command: {command()}", flush=True)
    compiled()
    first_load = load()
    passes: list[dict[str, Result]] = []
    for n in range(max(1, args.runs)):
        results: dict[str, Result] = {}
        for name in names:
            prefix = f"pass {n + 1}/{args.runs}: " if args.runs > 1 else ""
            print(f"{prefix}running {name} (load {load():.2f}) ...", flush=True)
            results[name] = run(name, args)
        passes.append(results)
        print()
        if args.runs > 1:
            print(f"== pass {n + 1}/{args.runs}")
        for result in results.values():
            print(f"{result.headline}  [load {result.load_before:.2f} -> {result.load_after:.2f}]")
            for figure in result.figures:
                print(row(figure))
        print(flush=True)
    lines, missed = summary(passes)
    print("\n".join(lines))
    print(f"load average {first_load:.2f} before, {load():.2f} after")
    if not args.no_write:
        path = HERE / "RESULTS.md"
        path.write_text(markdown(passes, args, (first_load, load())), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    if missed and not args.quick:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

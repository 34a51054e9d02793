"""Each benchmark script runs at a tiny size and reports its figures (no timing is asserted: the
figures and targets are for benchmarks/run_all.py, on a quiet machine)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = [
    "bench_startup.py",
    "bench_parallel_http.py",
    "bench_streaming.py",
    "bench_saves.py",
    "bench_scale.py",
    "bench_critical_path.py",
    "bench_store.py",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_small_and_prints_every_figure(script: str, tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--repeat", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCHMARKS.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures, "no figures reported"
    for figure in figures:
        assert isinstance(figure["value"], (int, float)), figure
        assert figure["name"] in proc.stdout, f"{figure['name']!r} not printed"
        if figure["target"]:
            assert figure["target"] in proc.stdout, f"target of {figure['name']!r} not printed beside it"
    # Measured, not made up: every figure with a target has a real value (NaN only where a tiny run
    # has nothing to measure, e.g. no key press fits in a 20,000-line stream).
    measured = [f for f in figures if not (isinstance(f["value"], float) and math.isnan(f["value"]))]
    assert len(measured) >= len(figures) - 2


def test_run_all_prints_one_table_naming_the_machine(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "run_all.py"),
            "--quick",
            "--repeat",
            "1",
            "--only",
            "saves,parallel",
            "--no-write",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCHMARKS.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "state save p99" in proc.stdout and "target < 10.0" in proc.stdout
    assert "wall / 50 ms, concurrency 5" in proc.stdout
    assert "cores" in proc.stdout.splitlines()[0]  # the machine is named

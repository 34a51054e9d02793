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
    assert "benchmarks/run_all.py --quick --repeat 1 --only saves,parallel --no-write" in proc.stdout
    assert "load average" in proc.stdout
    # One verdict line per figure with a target, judged on its worst run.
    assert "Verdicts (1 pass(es)" in proc.stdout
    verdicts = [line.split()[:2] for line in proc.stdout.splitlines()]
    assert ["PASS", "saves"] in verdicts or ["FAIL", "saves"] in verdicts


def _common():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_common", BENCHMARKS / "_common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_common"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_figure_passes_only_if_its_worst_run_meets_the_target() -> None:
    common = _common()
    upper = common.Figure.over("b", "p99", [10.0, 12.0, 51.0], "ms", "<", 50)
    assert upper.value == 12.0 and upper.worst == 51.0 and upper.verdict == "FAIL"
    assert upper.spread == "[10.0\u201351.0]"
    lower = common.Figure.over("b", "ratio", [0.9, 0.79, 1.0], "x", ">=", 0.8)
    assert lower.worst == 0.79 and lower.ok is False
    held = common.Figure.over("b", "ratio", [0.9, 0.81, 1.0], "x", ">=", 0.8)
    assert held.ok is True and held.verdict == "PASS"


def test_regenerating_results_keeps_the_hand_written_section(tmp_path: Path) -> None:
    import importlib.util

    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("bench_run_all", BENCHMARKS / "run_all.py")
        assert spec is not None and spec.loader is not None
        run_all = importlib.util.module_from_spec(spec)
        sys.modules["bench_run_all"] = run_all  # dataclasses look their module up
        spec.loader.exec_module(run_all)
    finally:
        sys.path.remove(str(BENCHMARKS))
    results = tmp_path / "RESULTS.md"
    results.write_text("# old table\n\n" + run_all.WHERE_HEADING + "\n\nprofiles say X\n", encoding="utf-8")
    assert run_all.kept_section(results) == run_all.WHERE_HEADING + "\n\nprofiles say X\n"

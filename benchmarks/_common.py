"""Shared mechanics of the benchmark scripts: figures beside their targets, medians, a JSON hand-off.

Every script prints one line per figure (median [min-max] over its runs, unit, target, verdict) and, with
`--json FILE`, writes the same figures for `run_all.py`. Targets are ratios to a baseline measured in the
same run where the issue says so: this machine is shared and noisy, so a ratio travels better than a wall
time. A figure PASSes only if its *worst* run meets the target (the median hides the busy run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (put on sys.path so a script runs from a checkout without installing)."""

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
}


@dataclass
class Figure:
    """One measured figure and its target. `value` is the median of `runs` (one value per run; empty
    when the figure is measured once); `limit` with `op` ("<=", "<", ">=", "==") judges the worst run."""

    bench: str
    name: str
    value: float
    unit: str
    op: str = ""
    limit: float | None = None
    note: str = ""
    runs: list[float] = field(default_factory=list)

    @classmethod
    def over(
        cls,
        bench: str,
        name: str,
        runs: Sequence[float],
        unit: str,
        op: str = "",
        limit: float | None = None,
        note: str = "",
    ) -> Figure:
        """A figure measured once per run: its median, with every run kept for the range and verdict."""
        values = [float(v) for v in runs]
        measured = [v for v in values if v == v]
        return cls(bench, name, median(measured) if measured else float("nan"), unit, op, limit, note, values)

    @property
    def target(self) -> str:
        return f"{self.op} {_fmt(self.limit)}" if self.limit is not None else ""

    @property
    def measured(self) -> list[float]:
        """The runs' values that measured something (NaN: e.g. no key press fitted in a tiny run)."""
        values = self.runs or [self.value]
        return [v for v in values if v == v]

    @property
    def low(self) -> float:
        return min(self.measured, default=float("nan"))

    @property
    def high(self) -> float:
        return max(self.measured, default=float("nan"))

    @property
    def worst(self) -> float:
        """The run furthest from the target's side: the highest for an upper limit, the lowest for a
        lower one, for == the first run that differs."""
        values = self.measured
        if not values:
            return float("nan")
        if self.op == ">=":
            return min(values)
        if self.op == "==":
            return next((v for v in values if v != self.limit), values[0])
        return max(values)

    @property
    def ok(self) -> bool | None:
        if self.limit is None:
            return None
        worst = self.worst
        if worst != worst:  # NaN: nothing measured
            return None
        return COMPARE[self.op](worst, self.limit)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: ""}[self.ok]

    @property
    def spread(self) -> str:
        """The range over the runs, `[min-max]` (empty when measured once)."""
        if len(self.measured) < 2:
            return ""
        return f"[{_fmt(self.low)}\u2013{_fmt(self.high)}]"

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "target": self.target, "ok": self.ok}


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value != value:
        return "n/a"
    if value == int(value) and abs(value) >= 100:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return float(ordered[rank - 1])


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON (for run_all.py)")
    p.add_argument(
        "--repeat", type=int, default=3, help="runs per figure: median [min-max] reported, the worst judged"
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test): figures, not targets")
    return p


def row(figure: Figure) -> str:
    value = f"{_fmt(figure.value)} {figure.unit}".strip()
    target = f"target {figure.target}" if figure.target else ""
    note = f"  ({figure.note})" if figure.note else ""
    return f"  {figure.name:<46} {value:>16} {figure.spread:<18} {target:<18} {figure.verdict:<5}{note}"


def report(figures: list[Figure], json_path: str | None) -> None:
    """Print the figures (one line each) and hand them to run_all.py."""
    for figure in figures:
        print(row(figure), flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps([f.to_json() for f in figures], indent=1), encoding="utf-8")


def scratch_dir() -> Path:
    """Temp files on the disk sessions live on (not a tmpfs), so fsync costs what it costs in use."""
    base = ROOT / "benchmarks" / "out"
    base.mkdir(parents=True, exist_ok=True)
    return base


def generate_checklist(items: int, depth: int = 10, fences: int = 0, sections: int | None = None) -> str:
    """A synthetic checklist: `items` task items in `sections` sections (## headings), nested up to
    `depth` levels (chains of 2-space-indented task lists), `fences` of them carrying a bash block."""
    sections = sections or max(1, items // 100)
    per_section = -(-items // sections)
    fence_every = max(1, items // fences) if fences else 0
    lines = ["# Generated release checklist", "", "Synthetic checklist for the benchmarks.", ""]
    n = 0
    for s in range(sections):
        lines += [f"## Section {s + 1}", ""]
        for i in range(per_section):
            if n >= items:
                break
            level = i % depth
            indent = "  " * level
            lines.append(f"{indent}- [ ] Step {n + 1}: verify component {s + 1}.{i + 1} is healthy")
            if fence_every and n % fence_every == 0:
                lines += [
                    f"{indent}  ```bash",
                    f"{indent}  echo checking component {s + 1}.{i + 1}",
                    f"{indent}  ```",
                ]
            n += 1
        lines.append("")
    return "\n".join(lines) + "\n"


def child_env() -> dict[str, str]:
    """The environment of a measured child process: bytecode cached (as an installed package has it; this
    machine sets PYTHONDONTWRITEBYTECODE, which would make every start compile deploytui from source),
    the cache kept out of the source tree."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(scratch_dir() / "pycache")
    return env

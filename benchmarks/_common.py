"""Shared mechanics of the benchmark scripts: figures beside their targets, medians, a JSON hand-off.

Every script prints one line per figure (value, unit, target, verdict) and, with `--json FILE`, writes the
same figures for `run_all.py`. Targets are ratios to a baseline measured in the same run where the issue
says so: this machine is shared and noisy, so a ratio travels better than a wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (put on sys.path so a script runs from a checkout without installing)."""

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Figure:
    """One measured figure and its target. `limit` with `op` ("<=", "<", ">=") decides `ok`."""

    bench: str
    name: str
    value: float
    unit: str
    op: str = ""
    limit: float | None = None
    note: str = ""

    @property
    def target(self) -> str:
        return f"{self.op} {_fmt(self.limit)}" if self.limit is not None else ""

    @property
    def ok(self) -> bool | None:
        if self.limit is None:
            return None
        compare: dict[str, Callable[[float, float], bool]] = {
            "<=": lambda a, b: a <= b,
            "<": lambda a, b: a < b,
            ">=": lambda a, b: a >= b,
            "==": lambda a, b: a == b,
        }
        if self.value != self.value:  # NaN: nothing measured (e.g. no key press in a tiny run)
            return None
        return compare[self.op](self.value, self.limit)

    @property
    def verdict(self) -> str:
        return {True: "ok", False: "MISSED", None: ""}[self.ok]

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
    p.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    p.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test): figures, not targets")
    return p


def row(figure: Figure) -> str:
    value = f"{_fmt(figure.value)} {figure.unit}".strip()
    target = f"target {figure.target}" if figure.target else ""
    note = f"  ({figure.note})" if figure.note else ""
    return f"  {figure.name:<42} {value:>16}   {target:<18} {figure.verdict:<6}{note}"


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

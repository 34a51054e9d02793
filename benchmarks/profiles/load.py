"""Loading a 5,000-item checklist (bench_scale.py's), timed and optionally profiled.

    .venv/bin/python benchmarks/profiles/load.py [--loads 15] [--profile tottime|cumulative]

Writes the same synthetic checklist bench_scale.py loads (5,000 items, 10 levels, 500 fenced blocks) to
benchmarks/out, loads it `--loads` times and prints the median [min-max]; `--profile` then prints the top
of a cProfile of 5 more loads, sorted as asked.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import generate_checklist, scratch_dir  # noqa: E402

from deploytui.core.checklist import load_checklist  # noqa: E402

ITEMS = 5000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loads", type=int, default=15)
    p.add_argument("--profile", choices=["tottime", "cumulative"])
    args = p.parse_args()
    path = scratch_dir() / "profile-load-5000.md"
    path.write_text(generate_checklist(ITEMS, depth=10, fences=ITEMS // 10), encoding="utf-8")
    times = []
    for _ in range(args.loads):
        started = time.perf_counter()
        load_checklist(path)
        times.append((time.perf_counter() - started) * 1000)
    print(f"load of {ITEMS:,} items: {statistics.median(times):.1f} ms [{min(times):.1f}-{max(times):.1f}]")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(5):
            load_checklist(path)
        profile.disable()
        pstats.Stats(profile).sort_stats(args.profile).print_stats(30)


if __name__ == "__main__":
    main()

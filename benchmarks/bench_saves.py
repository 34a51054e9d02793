"""Benchmark: one state save of a 300-item session that has 1,000 events behind it.

    .venv/bin/python benchmarks/bench_saves.py [--items 300] [--events 1000] [--saves 200]

Builds the session through the real store (every event journalled and fsynced, as in use), then times:
- the save itself (`LiveSession._save`: serialise, re-parse, temp file, fsync, os.replace, fsync the
  dir; unchanged item tables re-use their verified text) — target p99 < 10 ms;
- one whole change as the operator makes it (`LiveSession.apply`: validate, journal + fsync, save).
Files live under benchmarks/out/ (the disk sessions live on, not a tmpfs).
"""

from __future__ import annotations

import tempfile
import time

from _common import Figure, generate_checklist, median, parser, percentile, report, scratch_dir

from deploytui.core.checklist import parse_checklist
from deploytui.core.session import AddNote, RunFinished, RunStarted, Skip, Untick
from deploytui.core.status import Outcome, Status
from deploytui.storage.fs import SessionStore


def build_session(store: SessionStore, items: int, events: int):  # type: ignore[no-untyped-def]
    """A live session of a generated checklist with `events` events of every common kind."""
    checklist = parse_checklist(generate_checklist(items, depth=3, fences=items // 10), "bench.md")
    live = store.create(checklist, "bench-operator", host="bench-host")
    ids = [node.id for node in checklist.items()]
    leaves = [n.id for n in checklist.items() if not n.children]
    n = 1
    i = 0
    while n < events:
        item = leaves[i % len(leaves)]
        step = (i // len(leaves)) % 4
        if step == 0:
            run_id = f"r{i}"
            live.apply(RunStarted(item, f"{item}#0", run_id, label="probe", kind="http"))
            outcome = Outcome(
                Status.PASSED if i % 7 else Status.FAILED,
                "HTTP 200 in 12 ms" if i % 7 else "HTTP 503: upstream unavailable",
                {"status": 200, "elapsed_ms": 12.5},
                f"GET https://api.example.test/health\n{{'status': 'ok', 'item': '{item}'}}",
                12,
            )
            live.apply(RunFinished(item, f"{item}#0", run_id, outcome, log=f"logs/{run_id}.log"))
            n += 2
        elif step == 1:
            live.apply(AddNote(item, "bench-operator", f"looked at {item}: numbers match the dashboard"))
            n += 1
        elif step == 2:
            try:
                live.apply(Skip(item, "bench-operator", "not applicable to this release"))
            except Exception:  # noqa: BLE001 - a refused transition is fine for filler
                live.apply(AddNote(item, "bench-operator", "skip refused"))
            n += 1
        else:
            try:
                live.apply(Untick(item, "bench-operator"))
            except Exception:  # noqa: BLE001
                live.apply(AddNote(item, "bench-operator", "untick refused"))
            n += 1
        i += 1
    return live, ids, len(ids)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=300)
    p.add_argument("--events", type=int, default=1000)
    p.add_argument("--saves", type=int, default=200)
    args = p.parse_args()
    if args.quick:
        args.items, args.events, args.saves, args.repeat = 20, 40, 10, 1
    save_p50, save_p99, apply_p50, apply_p99, sizes = [], [], [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
            store = SessionStore(tmp)
            live, ids, count = build_session(store, args.items, args.events)
            try:
                samples = []
                events = live.session.seq
                for _ in range(args.saves):
                    started = time.perf_counter()
                    live._save()  # what every change ends with (LiveSession._commit)
                    samples.append((time.perf_counter() - started) * 1000)
                save_p50.append(percentile(samples, 50))
                save_p99.append(percentile(samples, 99))
                sizes.append(live.toml_path.stat().st_size)
                samples = []
                for k in range(args.saves):
                    item = ids[k % len(ids)]
                    started = time.perf_counter()
                    live.apply(AddNote(item, "bench-operator", f"note {k}"))
                    samples.append((time.perf_counter() - started) * 1000)
                apply_p50.append(percentile(samples, 50))
                apply_p99.append(percentile(samples, 99))
            finally:
                live.close()
    print(
        f"Saves: {count} items, {events} events, session TOML {median(sizes) / 1024:.0f} KiB, "
        f"{args.saves} saves x {args.repeat} runs (medians of the runs' percentiles)"
    )
    report(
        [
            Figure.over("saves", "state save p50 (serialise..fsync dir)", save_p50, "ms"),
            Figure.over("saves", "state save p99", save_p99, "ms", "<", 10),
            Figure.over("saves", "whole change p50 (journal fsync + save)", apply_p50, "ms"),
            Figure.over("saves", "whole change p99", apply_p99, "ms"),
        ],
        args.json,
    )


if __name__ == "__main__":
    main()

"""Benchmark: the PostgreSQL store on loopback beside the file store, figure by figure.

    .venv/bin/python benchmarks/bench_store.py [--changes 300] [--sessions 1000] [--events 100000]
                                               [--notes 10000] [--url postgresql://…]

Without --url a throwaway cluster is started (tests/servers/databases.py: initdb in /tmp), with
`fsync` turned back on so a commit costs what it costs in use (the test cluster runs with fsync off).
Figures, each for both stores (`pg` and `file`):
- change acknowledged: `LiveSession.apply` of a note, until it returns (pg: committed; file: its event
  line fsynced and the head record rewritten; the TOML checkpoint is saved every 1,000 events) —
  target p99 < 15 ms;
- follower sees a change: from the writer's apply returning to a follower in another process having
  it (pg: the follower blocks on LISTEN, `wait`; file: it polls `reload` as the app does, every
  FOLLOW_SECONDS) — target p99 < 300 ms;
- `sessions` listing of N sessions (`store.list()`) — target < 300 ms;
- resume of a session of E events (`store.open` for write, then close) — target < 2 s;
- a change on an item that already has K notes (p99 of 100, after the first change since opening,
  reported apart) — target < 10 ms.
Each figure is the median over --repeat runs (the spread, min..max of the runs, is in the note).
Sessions for the listing, resume and notes figures are written directly as event lines (the same lines
`apply` writes), then pushed to PostgreSQL with `store push`, so building them costs seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT, Figure, generate_checklist, parser, percentile, report, scratch_dir

from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.core.session import AddNote, Session
from deploytui.storage.fs import (
    EVENTS_FILE,
    HEAD_FILE,
    HeadRecord,
    SessionStore,
    atomic_write_toml,
    event_line,
    line_hash,
)
from deploytui.storage.postgres import PostgresStore
from deploytui.storage.postgres.transfer import push

FOLLOW_SECONDS = 0.5
"""The app's follow interval for a read-only session (deploytui/tui/app.py)."""

FOLLOWER = r"""
import sys, time
kind, where, sid, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if kind == "pg":
    from deploytui.storage.postgres import PostgresStore
    live = PostgresStore(where, local_dir=sys.argv[5]).open(sid, read_only=True)
    step = lambda: live.wait(1.0)
else:
    from deploytui.storage.fs import SessionStore
    live = SessionStore(where).open(sid, read_only=True)
    def step():
        time.sleep(float(sys.argv[5]))
        return live.reload()
print("ready", live.session.seq, flush=True)
target = live.session.seq + count
while live.session.seq < target:
    before = live.session.seq
    if step():
        now = time.monotonic()
        for seq in range(before + 1, live.session.seq + 1):
            print(seq, now, flush=True)
"""


def _checklist(tmp: Path, items: int) -> Checklist:
    path = tmp / "bench.md"
    path.write_text(generate_checklist(items, depth=3))
    return parse_checklist(path.read_text(), path)


def write_session(
    files: SessionStore, checklist: Checklist, sid: str, events: int, *, one_item: bool
) -> None:
    """A file-store session of `events` events (notes), written as `apply` would write them."""
    leaves = [n.id for n in checklist.items() if not n.children]
    session = Session()
    at = "2026-01-05T09:00:00.000Z"
    created = Session.created_event(
        sid, checklist, "bench", "bench-host", at=at, checklist_path=str(checklist.path)
    )
    lines: list[bytes] = []
    prev = "0" * 64
    for n in range(events):
        if n == 0:
            event: Any = created
        else:
            item = leaves[0] if one_item else leaves[n % len(leaves)]
            event = session.event_for(AddNote(item, "bench", f"note {n}: numbers match the dashboard"), at)
        line = event_line(event, prev)
        session.apply_event(event)
        prev = line_hash(line)
        lines.append(line)
    session.head = prev
    sdir = files.session_dir(sid)
    (sdir / "logs").mkdir(parents=True, exist_ok=True)
    (sdir / EVENTS_FILE).write_bytes(b"".join(line + b"\n" for line in lines))
    sha256 = atomic_write_toml(files.toml_path(sid), session.to_dict())
    (sdir / HEAD_FILE).write_bytes(HeadRecord(events, prev, events, sha256).to_bytes())


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def acknowledged(store: Any, checklist: Checklist, changes: int) -> list[float]:
    with store.create(checklist, "bench") as live:
        leaves = [n.id for n in checklist.items() if not n.children]
        return [
            timed(lambda k=k: live.apply(AddNote(leaves[k % len(leaves)], "bench", f"n{k}")))
            for k in range(changes)
        ]


def follower_latency(store: Any, checklist: Checklist, changes: int, tmp: Path) -> list[float]:
    kind = "pg" if isinstance(store, PostgresStore) else "file"
    with store.create(checklist, "bench") as live:
        where = store.url if kind == "pg" else str(store.dir)
        extra = str(tmp / "follower") if kind == "pg" else str(FOLLOW_SECONDS)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, "-c", FOLLOWER, kind, where, live.id, str(changes), extra],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None
        assert child.stdout.readline().startswith("ready")
        acked: dict[int, float] = {}
        leaves = [n.id for n in checklist.items() if not n.children]
        for k in range(changes):
            live.apply(AddNote(leaves[k % len(leaves)], "bench", f"n{k}"))
            acked[live.session.seq] = time.monotonic()
            time.sleep(0.02)  # changes as an operator and the checks make them, not a burst
        out, _ = child.communicate(timeout=120)
    seen = {int(a): float(b) for a, b in (line.split() for line in out.splitlines())}
    return [(seen[seq] - t) * 1000 for seq, t in acked.items() if seq in seen]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--url", help="an existing PostgreSQL database to use (default: a throwaway cluster)")
    p.add_argument("--changes", type=int, default=300)
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--notes", type=int, default=10_000)
    args = p.parse_args()
    if args.quick:
        args.changes, args.sessions, args.events, args.notes, args.repeat = 20, 20, 200, 200, 1
    server = None
    url = args.url
    if url is None:
        sys.path.insert(0, str(ROOT))
        from tests.servers.databases import start_postgres

        server = start_postgres()
        server.execute("ALTER SYSTEM SET fsync = on")
        server.execute("ALTER SYSTEM SET full_page_writes = on")
        server.execute("SELECT pg_reload_conf()")
    results: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    try:
        for run in range(args.repeat):
            with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp_name:
                tmp = Path(tmp_name)
                checklist = _checklist(tmp, 300)
                if server is not None:
                    name = f"bench_{os.getpid()}_{run}"
                    server.execute(f"CREATE DATABASE {name} TEMPLATE template0")
                    db_url = server.url_for(name)
                else:
                    db_url = url
                pg = PostgresStore(db_url, local_dir=tmp / "local")
                stores: dict[str, Any] = {"pg": pg, "file": SessionStore(tmp / "sessions")}
                for kind, store in stores.items():
                    samples = acknowledged(store, checklist, args.changes)
                    add(f"{kind} change acknowledged p50", percentile(samples, 50))
                    add(f"{kind} change acknowledged p99", percentile(samples, 99))
                    samples = follower_latency(store, checklist, min(args.changes, 100), tmp)
                    add(f"{kind} follower sees a change p50", percentile(samples, 50))
                    add(f"{kind} follower sees a change p99", percentile(samples, 99))
                # listing: N small sessions in a sessions dir, pushed to the database too
                many = SessionStore(tmp / "many")
                small = _checklist(tmp, 30)
                for n in range(args.sessions):
                    sid = f"20260105T09{n // 60 % 60:02d}{n % 60:02d}Z-{n:04x}"
                    write_session(many, small, sid, 5, one_item=False)
                    push(many, pg, sid)
                add("pg sessions listing", timed(pg.list))
                add("file sessions listing", timed(many.list))
                # resume of a long session; a change on an item with many notes
                big = SessionStore(tmp / "big")
                write_session(big, checklist, "long-1", args.events, one_item=False)
                write_session(big, checklist, "notes-1", args.notes, one_item=True)
                push(big, pg, "long-1")
                push(big, pg, "notes-1")
                for kind, store in (("pg", pg), ("file", big)):
                    add(
                        f"{kind} resume of {args.events:,} events",
                        timed(lambda s=store: s.open("long-1").close()),
                    )
                    with store.open("notes-1") as live:
                        item = [n.id for n in checklist.items() if not n.children][0]
                        # The first change after opening is reported apart (it once serialised the whole
                        # item: the file store's cache of its text starts empty); the rest is the steady
                        # state. The file store's close saves the checkpoint, outside the figure.
                        first = timed(lambda item=item: live.apply(AddNote(item, "bench", "first")))
                        samples = [
                            timed(lambda k=k, item=item: live.apply(AddNote(item, "bench", f"more {k}")))
                            for k in range(100)
                        ]
                    add(f"{kind} first change after open, {args.notes:,} notes", first)
                    add(f"{kind} change with {args.notes:,} notes p50", percentile(samples, 50))
                    add(f"{kind} change with {args.notes:,} notes p99", percentile(samples, 99))
                pg.close()
    finally:
        if server is not None:
            server.cleanup()

    limits = {
        "change acknowledged p99": ("<", 15.0),
        "follower sees a change p99": ("<", 300.0),
        "sessions listing": ("<", 300.0),
        f"resume of {args.events:,} events": ("<", 2000.0),
        f"change with {args.notes:,} notes p99": ("<", 10.0),
    }
    figures = []
    for name, values in results.items():
        kind, _, what = name.partition(" ")
        op, limit = limits.get(what, ("", None))
        figures.append(
            Figure.over(
                "store", name, values, "ms", op if kind == "pg" else "", limit if kind == "pg" else None
            )
        )
    print(
        f"Store: {args.changes} changes, {args.sessions} sessions, {args.events:,} events,"
        f" {args.notes:,} notes;"
        f" {args.repeat} run(s); targets apply to the PostgreSQL store (pg), the file store beside it"
    )
    report(figures, args.json)


if __name__ == "__main__":
    main()

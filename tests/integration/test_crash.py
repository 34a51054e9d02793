"""SIGKILL at random moments never loses an acknowledged change nor leaves an unreadable session."""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from deploytui.core.checklist import parse_checklist
from deploytui.core.session import AddNote, Session
from deploytui.storage.fs import HEAD_FILE, SessionStore, read_events, read_head, verify_chain
from deploytui.storage.fs.live import CHECKPOINT_EVERY

REPO = Path(__file__).resolve().parents[2]
CHILD = REPO / "tests" / "support" / "crash_child.py"

KILLS = 60
"""SIGKILLs per run: the brief asks for at least 50; each costs ~0.2-0.4 s (mostly interpreter start)."""

TEXT = """# Crash

## Steps

- [ ] One
- [ ] Two
- [ ] Three
  - [ ] Three a
- [ ] Four
"""


def _read_ready_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""


def _crash_session(tmp_path: Path) -> tuple[int, random.Random, SessionStore, str, Path, Path]:
    """A new session of the crash checklist, closed, and the trial's random source: seeded from
    $DEPLOYTUI_CRASH_SEED to replay a failure (the seed is in the failure message), else fresh."""
    seed = int(os.environ.get("DEPLOYTUI_CRASH_SEED", time.time_ns() % 1_000_000))
    checklist_path = tmp_path / "crash.md"
    checklist_path.write_text(TEXT)
    store = SessionStore(tmp_path / "sessions")
    with store.create(parse_checklist(TEXT, checklist_path), "crash") as live:
        sid, events_path, toml_path = live.id, live.events_path, live.toml_path
    return seed, random.Random(seed), store, sid, events_path, toml_path


def _writer(store: SessionStore, sid: str) -> subprocess.Popen[str]:
    """The child that applies changes to the session and prints each one it got acknowledged."""
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(store.dir), sid],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_change(tmp_path: Path) -> None:
    seed, rng, store, sid, events_path, toml_path = _crash_session(tmp_path)

    acked: dict[int, tuple[str, str]] = {}
    toml_behind = 0
    head_behind = 0
    temps_seen = 0
    cuts_seen = 0
    started = time.monotonic()
    for kill in range(KILLS):
        proc = _writer(store, sid)
        lines: list[str] = []
        if rng.random() < 0.2:
            # Sometimes kill during start-up: while it opens, replays, marks runs interrupted.
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            first = _read_ready_line(proc, timeout=20)
            if not first:
                proc.kill()
                _, err = proc.communicate()
                pytest.fail(f"child never acknowledged a change (seed {seed}): {err.strip()[-500:]}")
            lines.append(first)
            time.sleep(rng.uniform(0.0, 0.08))
        proc.kill()  # SIGKILL: no handler, no flush, no cleanup
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == -9, f"child exited by itself (seed {seed}): {err.strip()[-500:]}"
        lines.extend(out.splitlines(keepends=True))
        for line in lines:
            if line.endswith("\n"):  # a half-printed line was never fully acknowledged to us
                seq_text, kind_text, item_text = line.split()
                acked[int(seq_text)] = (kind_text, item_text)

        # What a kill can leave: at most the one temp file being written, a TOML checkpoint of an
        # earlier event, a head record at most one event behind, and the last event line cut short (a
        # SIGKILL can end the write of a line crossing a page between pages; it was never acknowledged,
        # and the next open sets it aside).
        temps = [p for p in store.dir.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) <= 1, temps
        temps_seen += len(temps)
        log = read_events(events_path, allow_partial_tail=True)
        count, head = log.count, log.head
        cut = not events_path.read_bytes().endswith(b"\n")
        cuts_seen += cut
        toml_seq: int = tomllib.loads(toml_path.read_text())["seq"]
        assert 1 <= toml_seq <= count, (toml_seq, count)
        toml_behind += toml_seq < count
        record = read_head(store.session_dir(sid) / HEAD_FILE)
        assert record is not None and record.seq in (count, count - 1), (record, count)
        head_behind += record.seq < count

        # Every acknowledged change is in the log, in place...
        assert count >= max(acked, default=0), f"lost events after kill {kill} (seed {seed})"
        events = [json.loads(line) for line in events_path.read_text().splitlines()[:count]]
        for seq, (kind, item) in acked.items():
            assert events[seq - 1]["type"] == kind and events[seq - 1].get("item", "-") == item
        # ...and the session loads to exactly what the log says.
        session = store.load(sid)
        assert session.seq == count and session.head == head
        rebuilt = Session.from_events(events)
        rebuilt.head = head
        assert rebuilt.to_dict() == session.to_dict()

        # Resuming for write clears what the kill left.
        store.open(sid).close()
        assert not [p for p in store.dir.iterdir() if p.name.endswith(".tmp")]
        assert verify_chain(events_path)[0] >= count  # a cut line set aside: the log is whole again

    elapsed = time.monotonic() - started
    assert len(acked) > KILLS, "the child should acknowledge many changes between kills"
    print(
        f"\ncrash test: {KILLS} kills, {len(acked)} acknowledged changes kept, TOML behind the log "
        f"{toml_behind}x (replayed), head record behind {head_behind}x, temp file left {temps_seen}x"
        f" (removed), last line cut {cuts_seen}x (set aside), {elapsed:.1f}s, seed {seed}"
    )
    assert elapsed < 90


@pytest.mark.slow
def test_sigkill_between_checkpoints_resumes_with_nothing_lost(tmp_path: Path) -> None:
    """The TOML is a checkpoint (every CHECKPOINT_EVERY events): a writer killed well past one, with
    hundreds of acknowledged changes after it, resumes with every one of them, from the log and the head
    record; the checkpoint it left names an event of the log, and the next close catches it up."""
    seed, rng, store, sid, events_path, toml_path = _crash_session(tmp_path)
    stop_after = CHECKPOINT_EVERY + 1 + rng.randrange(50, 400)
    proc = _writer(store, sid)
    acked: dict[int, tuple[str, str]] = {}
    deadline = time.monotonic() + 120
    while max(acked, default=0) < stop_after:
        line = _read_ready_line(proc, timeout=max(0.1, deadline - time.monotonic()))
        if not line:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"child stopped acknowledging after {len(acked)} changes (seed {seed}): {err[-500:]}")
        seq_text, kind_text, item_text = line.split()
        acked[int(seq_text)] = (kind_text, item_text)
    proc.kill()  # SIGKILL, between two checkpoints
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == -9
    for line in out.splitlines(keepends=True):
        if line.endswith("\n"):
            seq_text, kind_text, item_text = line.split()
            acked[int(seq_text)] = (kind_text, item_text)

    count, head = verify_chain(events_path)
    assert count >= max(acked), f"lost events (seed {seed})"
    assert tomllib.loads(toml_path.read_text())["seq"] == CHECKPOINT_EVERY + 1  # the checkpoint mid-run
    record = read_head(store.session_dir(sid) / HEAD_FILE)
    assert record is not None and record.seq in (count, count - 1)
    assert record.checkpoint == CHECKPOINT_EVERY + 1
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    for seq, (kind, item) in acked.items():
        assert events[seq - 1]["type"] == kind and events[seq - 1].get("item", "-") == item
    rebuilt = Session.from_events(events)
    rebuilt.head = head
    loaded = store.load(sid)  # the checkpoint and every event after it
    assert loaded.seq == count and loaded.to_dict() == rebuilt.to_dict()
    with store.open(sid) as resumed:  # for write: runs the kill cut short become interrupted
        assert resumed.session.seq >= count
        resumed.apply(AddNote(next(iter(resumed.session.items)), "crash", "after the resume"))
        seq = resumed.session.seq
    assert tomllib.loads(toml_path.read_text())["seq"] == seq  # caught up by the close
    assert store.recover(sid).intact

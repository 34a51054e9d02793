"""SIGKILL a writer while real checks run, a world-changing step streams its output and the operator ticks
and notes, at random moments, in both stores (100 kills in the file store, 50 in PostgreSQL): every
acknowledged change survives, reopening the session takes it over at once (the lock died with the
process: PostgreSQL's advisory lock with its connection), the event chain verifies, the step is
started-and-interrupted, its log holds what it printed, in order, at least up to what the last
acknowledged change saw, checks that were running come back `interrupted`, and no temp file outlives the
resume.

tests/integration/test_crash.py kills store-only changes; this one kills a process running the real
engine (command checks in subprocesses, a fenced block as `deploytui run` runs it, logs being written)
through the same store path `--resume` uses.
"""

from __future__ import annotations

import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from deploytui.core.checklist import parse_checklist
from deploytui.core.errors import LockedError
from deploytui.core.session import Session, encode
from deploytui.core.status import Status
from deploytui.services.sessions import open_store
from deploytui.storage.fs import verify_chain
from tests.support.kill_child import ACTION_ITEM, CHECKLIST
from tests.support.store_support import fresh_database

REPO = Path(__file__).resolve().parents[2]
CHILD = REPO / "tests" / "support" / "kill_child.py"

KILLS = {"file": 100, "postgresql": 50}
"""SIGKILLs per store (the file store's issue asked for at least 100, issue 14 for 50 in PostgreSQL); a
forked child costs ~0.1 s each."""



class ForkServer:
    """Drives tests/support/kill_child.py: `start()` forks a child resuming the session, `kill()`
    SIGKILLs it."""

    def __init__(self, store: str, session_id: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), store, session_id],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        self.buffer = b""
        self.pid = 0

    def _lines(self, timeout: float) -> list[str]:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise AssertionError("fork server died: " + self.stderr())
            self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\n")
        return [line.decode() for line in complete]

    def stderr(self) -> str:
        self.proc.kill()
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-2000:]

    def read_until(self, prefix: str, timeout: float, into: list[str]) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self._lines(max(0.0, deadline - time.monotonic())):
                into.append(line)
                if line.startswith(prefix):
                    return line
        raise AssertionError(f"no {prefix!r} line within {timeout}s; got {into[-5:]}")

    def start(self, into: list[str]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()
        self.pid = int(self.read_until("pid ", 10, into).split()[1])

    def kill(self, into: list[str]) -> int:
        os.kill(self.pid, signal.SIGKILL)
        return int(self.read_until(f"reaped {self.pid} ", 10, into).split()[2])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


def _temps(sessions_dir: Path) -> list[Path]:
    return [p for p in sessions_dir.rglob("*") if p.name.endswith(".tmp")]


def _numbered(data: bytes) -> list[int]:
    """The numbers the step printed, in the order its log holds them (header lines left out)."""
    return [int(line) for line in data.decode(errors="replace").splitlines() if re.fullmatch(r"\d+", line)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "postgresql"])
def test_sigkill_during_real_check_runs_and_a_step_loses_nothing_and_resume_marks_them_interrupted(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = int(os.environ.get("DEPLOYTUI_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    kills = KILLS[kind]
    # The children and this test are one jump box: the same local dir for the PostgreSQL store's logs.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if kind == "file":
        location = str(tmp_path / "sessions")
    else:
        location = fresh_database(request.getfixturevalue("postgres_server"))
    path = tmp_path / "kill.md"
    path.write_text(CHECKLIST)
    store: Any = open_store(location)
    with store.create(parse_checklist(CHECKLIST, path), "kill") as live:
        sid = live.id
    sessions_dir = tmp_path / "sessions"

    acked: dict[int, tuple[str, str]] = {}
    interrupted_on_resume = 0
    killed_mid_run = 0
    killed_during_open = 0
    killed_mid_step = 0
    step_lines = 0
    started = time.monotonic()
    server = ForkServer(location, sid)
    try:
        for kill in range(kills):
            lines: list[str] = []
            server.start(lines)
            moment = rng.random()
            if moment < 0.15:
                time.sleep(rng.uniform(0.0, 0.02))  # during open: replay, interrupt marking, temp cleanup
            elif moment < 0.35:
                server.read_until("ack ", 10, lines)  # checks and the step starting
                time.sleep(rng.uniform(0.0, 0.1))
            else:
                # Once the step has printed and a change acknowledged it, kill at a random moment.
                while not any(a.startswith("ack ") and not a.endswith(" 0") for a in lines):
                    server.read_until("ack ", 10, lines)
                time.sleep(rng.uniform(0.0, 0.2))
            code = server.kill(lines)
            crashed = [line for line in lines if line.startswith("crashed")]
            assert not crashed and code == -signal.SIGKILL, f"child left by itself (seed {seed}): {crashed}"
            killed_during_open += not any(line.startswith("opened") for line in lines)
            step_acked: dict[str, int] = {}
            for line in lines:
                if line.startswith("ack "):
                    _, seq, what, item, log, size = line.split()
                    acked[int(seq)] = (what, item)
                    if log != "-":
                        step_acked[log] = max(step_acked.get(log, 0), int(size))

            # What the kill left: the chain verifies, every acknowledged change is in place...
            chain = store.event_chain(sid)
            if kind == "file":
                assert verify_chain(sessions_dir / sid / "events.jsonl") == (chain.count, chain.hashes[-1])
            assert chain.count >= max(acked, default=0), f"acknowledged events lost, kill {kill} ({seed})"
            events = [encode(e) for e in chain.events]
            for seq, (what, item) in acked.items():
                assert (events[seq - 1]["type"], events[seq - 1].get("item", "-")) == (what, item), seq
            if kind == "file":
                assert len(_temps(sessions_dir)) <= 1  # at most the one save in flight
            # ...and the session loads to exactly what the log says.
            session = store.load(sid)
            assert session.seq == chain.count and session.head == chain.hashes[-1]
            rebuilt = Session.from_events(events)
            rebuilt.head = chain.hashes[-1]
            assert rebuilt.to_dict() == session.to_dict()
            running = session.running()
            killed_mid_run += bool(running)
            cut_steps = [run.run_id for _item, run in session.running_actions()]
            killed_mid_step += bool(cut_steps)

            # The step the kill cut: its log, as the store holds it, is what it printed, in order, and
            # at least what the last change acknowledged after it saw (a log is written as it comes).
            for log, size in step_acked.items():
                with store.open_log(sid, log) as f:
                    kept = f.read()
                numbers = _numbered(kept)
                assert numbers == list(range(len(numbers))), f"kill {kill}: step lines lost or out of order"
                assert len(kept) >= size, f"kill {kill}: {log} has {len(kept)} bytes, {size} acknowledged"
                step_lines += len(numbers)

            # Taking the session over succeeds at once (the dead writer's lock went with it): the runs
            # and the step the kill cut are `interrupted`, nothing runs, no temps.
            try:
                resumed = store.open(sid)
            except LockedError as exc:
                raise AssertionError(f"kill {kill}: the dead writer still holds the session: {exc}") from None
            with resumed:
                for item, key in running:
                    assert resumed.session.items[item].checks[key].status is Status.INTERRUPTED, (item, key)
                assert resumed.session.running() == []
                assert resumed.session.running_actions() == []
                cut = {run.run_id: run for _item, run in resumed.session.interrupted_actions()}
                for run_id in cut_steps:
                    assert "it may have partly run" in cut[run_id].reason, cut[run_id]
                    assert cut[run_id].started and cut[run_id].at
                interrupted_on_resume += len(running)
                if kind == "file":
                    for state in resumed.session.items.values():
                        for check in state.checks.values():
                            if check.status in (Status.PASSED, Status.FAILED) and check.log:
                                assert (resumed.dir / check.log).is_file(), check.log
            if kind == "file":
                assert _temps(sessions_dir) == []
    finally:
        server.close()
        if kind == "postgresql":
            store.close()

    elapsed = time.monotonic() - started
    finished_runs = sum(1 for what, _ in acked.values() if what == "run_finished")
    steps = sum(1 for what, item in acked.values() if what == "action_started" and item == ACTION_ITEM)
    assert finished_runs > kills // 2, "checks should finish between kills"
    assert killed_mid_run > kills // 4, "many kills should land while a check runs"
    assert killed_mid_step > kills // 2, "most kills should land while the step runs"
    assert store.log_names(sid)  # the runs' logs were written
    print(
        f"\nkill/resume ({kind}): {kills} kills ({killed_during_open} during open,"
        f" {killed_mid_run} with checks running, {killed_mid_step} mid-step),"
        f" {len(acked)} acknowledged changes kept ({finished_runs} finished runs, {steps} steps started),"
        f" {step_lines} step lines checked, {interrupted_on_resume} runs marked interrupted on resume,"
        f" {elapsed:.1f}s, seed {seed}"
    )

"""SIGKILL `deploytui run` and the app while a world-changing step streams output, fifty times: after each
kill the session holds the step's ActionStarted with no end, the next open marks it interrupted ("it may
have partly run"), its log holds every line the step printed until at least 200 ms before the kill, and the
record lists it apart.

The step (tests/support/action_kill_child.py) prints `<n> <time.time()>` every 10 ms; the test compares
the log with the times it killed at. Each kill resumes the same session, so every trial also goes through the
resume path of the one before.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploytui.services.records import render_session
from deploytui.storage.fs import SessionStore, verify_chain
from tests.support.action_kill_child import CHECKLIST, CONFIG, ITEM

REPO = Path(__file__).resolve().parents[2]
CHILD = REPO / "tests" / "support" / "action_kill_child.py"

RUN_KILLS = 44
APP_KILLS = 6
"""Fifty trials: most kill `deploytui run`, some the app (whose start costs more)."""

BUDGET_SECONDS = 60.0
MARGIN_SECONDS = 0.2
"""Every line printed at least this long before the kill must be in the log."""


class ForkServer:
    def __init__(self, project: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(project)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        self.buffer = b""

    def _read_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if line.decode().startswith(prefix):
                    return line.decode()
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    self.proc.kill()
                    assert self.proc.stderr is not None
                    raise AssertionError("fork server died: " + self.proc.stderr.read().decode()[-2000:])
                self.buffer += chunk
        raise AssertionError(f"no {prefix!r} line within {timeout}s")

    def start(self, mode: str) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{mode}\n".encode())
        self.proc.stdin.flush()
        return int(self._read_line("pid ", 10).split()[1])

    def reap(self, pid: int) -> int:
        return int(self._read_line(f"reaped {pid} ", 10).split()[2])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


def _newest_log(logs: Path, known: set[str]) -> Path | None:
    fresh = [p for p in logs.glob("*.log") if p.name not in known] if logs.is_dir() else []
    return max(fresh, key=lambda p: p.stat().st_mtime) if fresh else None


def _printed_lines(log: Path) -> list[tuple[int, float]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            try:
                out.append((int(parts[0]), float(parts[1])))
            except ValueError:
                continue
    return out


@pytest.mark.slow
def test_sigkill_while_an_action_streams_leaves_it_started_interrupted_logged_and_recorded(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("DEPLOYTUI_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    (tmp_path / "steps.md").write_text(CHECKLIST)
    (tmp_path / "deploytui.toml").write_text(CONFIG)
    sessions = tmp_path / "sessions"
    modes = ["run"] * RUN_KILLS + ["app"] * APP_KILLS
    rng.shuffle(modes)
    known_logs: set[str] = set()
    session_id = ""
    started = time.monotonic()
    phases: dict[str, list[tuple[float, float, float]]] = {"run": [], "app": []}
    worst = 0.0
    server = ForkServer(tmp_path)
    try:
        for trial, mode in enumerate(modes):
            t0 = time.monotonic()
            pid = server.start(mode)
            # Wait until the step streams (its log has a numbered line), then kill at a random moment.
            deadline = time.monotonic() + 15
            log: Path | None = None
            while time.monotonic() < deadline:
                if not session_id and sessions.is_dir():
                    found = [p.stem for p in sessions.glob("*.toml")]
                    session_id = found[0] if found else ""
                if session_id:
                    log = _newest_log(sessions / session_id / "logs", known_logs)
                    if log is not None and _printed_lines(log):
                        break
                time.sleep(0.01)
            assert log is not None and _printed_lines(log), f"{mode} trial {trial}: the step never streamed"
            t1 = time.monotonic()
            time.sleep(rng.uniform(0.25, 0.4))
            killed_at = time.time()
            os.kill(pid, signal.SIGKILL)
            assert server.reap(pid) == -signal.SIGKILL, f"{mode} trial {trial}: the child left by itself"
            known_logs.add(log.name)
            t2 = time.monotonic()

            # The session holds the step's ActionStarted, and nothing ended it.
            events_path = sessions / session_id / "events.jsonl"
            verify_chain(events_path)
            events = [json.loads(line) for line in events_path.read_text().splitlines()]
            starts = [e for e in events if e["type"] == "action_started"]
            last = starts[-1]
            assert last["item"] == ITEM and last["log"] == f"logs/{log.name}", (mode, trial, last)
            assert last["cwd"] == str(tmp_path.resolve()) and last["pid"] > 0 and last["command_sha256"]
            ends = {e.get("run_id") for e in events if e["type"] in ("action_ran", "run_finished")}
            assert last["run_id"] not in ends, f"{mode} trial {trial}: the killed step has an end"

            # Its log holds every line printed until at least 200 ms before the kill, in order.
            lines = _printed_lines(log)
            numbers = [n for n, _ in lines]
            assert numbers == list(range(len(numbers))), f"{mode} trial {trial}: lines lost or out of order"
            last_time = lines[-1][1]
            worst = max(worst, killed_at - last_time)
            assert last_time >= killed_at - MARGIN_SECONDS, (
                f"{mode} trial {trial}: log ends {killed_at - last_time:.3f}s before the kill, seed {seed}"
            )

            # Resume marks it interrupted (the next trial resumes too; this open checks it now).
            store = SessionStore(sessions)
            with store.open(session_id) as live:
                cut = {run.run_id: run for _item, run in live.session.interrupted_actions()}
                assert last["run_id"] in cut, f"{mode} trial {trial}: not interrupted on resume"
                run = cut[last["run_id"]]
                assert "it may have partly run: check before running it again" in run.reason
                assert live.session.running_actions() == []
            record, _ = render_session(session_id, sessions_dir=sessions)
            assert "## Interrupted world-changing steps" in record
            assert f"log `logs/{log.name}`" in record
            assert f"`logs/{log.name}`" in record.split("## Evidence index", 1)[1]
            phases[mode].append((t1 - t0, t2 - t1, time.monotonic() - t2))
    finally:
        server.close()
    elapsed = time.monotonic() - started
    for mode, rows in phases.items():
        if rows:
            avg = [sum(r[i] for r in rows) / len(rows) for i in range(3)]
            print(f"\n{mode}: to stream {avg[0]:.2f}s, to kill {avg[1]:.2f}s, checks {avg[2]:.2f}s")
    print(f"\nthe log's last line was at most {worst * 1000:.0f} ms older than the kill")
    print(f"\n{len(modes)} kills ({RUN_KILLS} run, {APP_KILLS} app), {elapsed:.1f}s, seed {seed}")
    assert elapsed < BUDGET_SECONDS

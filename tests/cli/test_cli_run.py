"""`deploytui run`: world-changing steps headless, with the app's recording. It asks on a terminal (showing
exactly what runs), refuses with no terminal unless --yes, exits 0 only when every step succeeded, and a
resumed session keeps its operator."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli_support import REPO, one_line_error, run_deploytui

CHECKLIST = """# Ship

## Steps

- [ ] Migrate
  ```bash
  echo "migrating with $DEPLOY_TOKEN"; echo done > migrated.txt
  ```
- [ ] Broken
  ```bash
  echo nope; exit 3
  ```
- [ ] Manual
"""

CONFIG = """checklist = "ship.md"

[secrets]
env = ["DEPLOY_TOKEN"]
"""

SECRET = "tok-9f8e7d6c5b4a"


def _project(tmp_path: Path) -> Path:
    (tmp_path / "ship.md").write_text(CHECKLIST)
    (tmp_path / "deploytui.toml").write_text(CONFIG)
    return tmp_path


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)


def _events(tmp_path: Path) -> list[dict[str, object]]:
    [events] = (tmp_path / "sessions").glob("*/events.jsonl")
    return [json.loads(line) for line in events.read_text().splitlines()]


def test_with_no_terminal_and_no_yes_it_refuses_in_one_line_and_touches_nothing(tmp_path: Path) -> None:
    _project(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "deploytui", "run", "deploytui.toml", "steps/migrate"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60,
    )
    assert "no terminal to confirm on: pass --yes" in one_line_error(proc)
    assert not (tmp_path / "migrated.txt").exists() and not (tmp_path / "sessions").exists()


def test_yes_runs_the_step_recorded_before_it_started_with_the_secret_masked(tmp_path: Path) -> None:
    _project(tmp_path)
    proc = run_deploytui("run", "deploytui.toml", "steps/migrate", "--yes", "--operator", "Carol Ops",
                         cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "migrated.txt").read_text() == "done\n"
    assert "This changes the world. It runs exactly:" in proc.stderr
    assert f"in {tmp_path.resolve()} on " in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout and "migrating with [secret:DEPLOY_TOKEN]" in proc.stdout
    types = [e["type"] for e in _events(tmp_path)]
    assert types == ["created", "action_started", "action_ran"]
    started = _events(tmp_path)[1]
    assert started["by"] == "Carol Ops" and started["cwd"] == str(tmp_path.resolve())
    assert SECRET not in json.dumps(started) and started["pid"] != os.getpid()
    log = next((tmp_path / "sessions").glob("*/logs/*.log")).read_text()
    assert "migrating with [secret:DEPLOY_TOKEN]" in log and SECRET not in log


def test_a_failing_step_exits_1_and_an_item_with_nothing_to_run_exits_2(tmp_path: Path) -> None:
    _project(tmp_path)
    proc = run_deploytui("run", "deploytui.toml", "steps/broken", "--yes", cwd=tmp_path)
    assert proc.returncode == 1 and "FAILED" in proc.stderr and "exit code 3" in proc.stderr
    nothing = run_deploytui("run", "deploytui.toml", "steps/manual", "--yes", cwd=tmp_path)
    assert "steps/manual: nothing to run there" in one_line_error(nothing)
    unknown = run_deploytui("run", "deploytui.toml", "steps/migrat", "--yes", cwd=tmp_path)
    assert "did you mean 'steps/migrate'" in one_line_error(unknown)


def test_resume_keeps_the_sessions_operator_and_records_the_resume(tmp_path: Path) -> None:
    _project(tmp_path)
    assert run_deploytui("run", "deploytui.toml", "steps/broken", "--yes", "--operator", "Carol Ops",
                         cwd=tmp_path).returncode == 1
    proc = run_deploytui("run", "deploytui.toml", "steps/migrate", "--yes", "--resume", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = _events(tmp_path)
    resumed = [e for e in events if e["type"] == "resumed"]
    assert [(e["by"], e["operator"]) for e in resumed] == [("Carol Ops", "Carol Ops")]
    assert {e["by"] for e in events} == {"Carol Ops"}  # every event names who did it
    other = run_deploytui("run", "deploytui.toml", "steps/migrate", "--yes", "--resume", "--operator", "Dave",
                          cwd=tmp_path)
    assert other.returncode == 0 and _events(tmp_path)[-1]["by"] == "Dave"


def _on_a_terminal(tmp_path: Path, answer: bytes) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploytui", "run", "deploytui.toml", "steps/migrate"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=slave, stdout=subprocess.PIPE, stderr=slave,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 30
    while b"Run it? [y/N]" not in seen:
        assert time.monotonic() < deadline, seen
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            seen += os.read(master, 4096)
    os.write(master, answer)
    proc.wait(30)
    os.close(master)
    return proc.returncode, seen.decode(errors="replace")


def test_on_a_terminal_it_shows_what_runs_and_asks(tmp_path: Path) -> None:
    _project(tmp_path)
    code, shown = _on_a_terminal(tmp_path, b"n\n")
    assert code == 1 and not (tmp_path / "migrated.txt").exists()
    assert 'echo "migrating with $DEPLOY_TOKEN"' in shown and SECRET not in shown
    code, _ = _on_a_terminal(tmp_path, b"y\n")
    assert code == 0 and (tmp_path / "migrated.txt").exists()


def test_help_explains_and_ends_with_an_example(tmp_path: Path) -> None:
    proc = run_deploytui("run", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "--yes" in proc.stdout and "refuses (exit 2)" in proc.stdout
    tail = proc.stdout.strip().splitlines()
    assert any(line.strip().startswith("deploytui run deploytui.toml") for line in tail[-6:]), tail
    assert "example:" in proc.stdout

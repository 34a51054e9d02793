"""`deploytui sessions`: newest first, JSON shape from DESIGN.md, a broken session listed not fatal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploytui.cli import main
from deploytui.core.checklist import parse_checklist
from deploytui.core.session import Finish, Skip, Tick
from deploytui.storage.fs import SessionStore
from tests.support.cli_support import REPO, run_deploytui

TEXT = "# Deploy\n\n## Pre\n\n- [ ] Tests pass\n- [ ] Review\n- [ ] API up\n"


def _make_sessions(sessions: Path, tmp_path: Path) -> list[str]:
    path = tmp_path / "deploy.md"
    path.write_text(TEXT)
    checklist = parse_checklist(TEXT, path)
    store = SessionStore(sessions)
    ids = []
    for n in range(3):
        with store.create(checklist, f"op{n}", session_id=f"2026010{n + 1}T090000Z-00a{n}") as live:
            live.apply(Tick("pre/tests-pass", live.session.operator))
            if n == 0:
                live.apply(Skip("pre/review", "op0", "reviewed last week"))
                live.apply(Finish("success", "op0"))
            ids.append(live.id)
    return ids


def test_json_lists_newest_first_with_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sessions = tmp_path / "sessions"
    ids = _make_sessions(sessions, tmp_path)
    assert main(["sessions", "--sessions-dir", str(sessions), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = data["sessions"]
    assert [r["id"] for r in rows] == list(reversed(ids))
    assert set(rows[0]) >= {"id", "checklist", "operator", "started", "updated", "finished", "counts"}
    assert rows[0]["finished"] is None and rows[0]["operator"] == "op2"
    assert rows[0]["checklist"] == str((tmp_path / "deploy.md").resolve())
    assert rows[0]["counts"]["done"] == 1 and rows[0]["counts"]["pending"] == 2
    oldest = rows[-1]
    assert oldest["finished"] and oldest["counts"]["skipped"] == 1


def test_text_table_and_corrupt_session_marked(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    ids = _make_sessions(sessions, tmp_path)
    (sessions / f"{ids[1]}.toml").write_text("this is = = not toml\n")
    proc = run_deploytui("sessions", "--sessions-dir", str(sessions), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "STARTED", "UPDATED"]
    assert [line.split()[0] for line in lines[1:]] == list(reversed(ids))
    broken = next(line for line in lines if line.startswith(ids[1]))
    assert "UNREADABLE" in broken and f"{ids[1]}.toml:1" in broken
    newest = lines[1]
    assert "op2" in newest and "open" in newest and "1 done" in newest and "2 pend" in newest
    assert "finished success" in lines[3]
    assert "Traceback" not in proc.stderr


def test_empty_or_missing_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--sessions-dir", str(tmp_path / "none")]) == 0
    assert "no sessions" in capsys.readouterr().out
    assert main(["sessions", "--sessions-dir", str(tmp_path / "none"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"sessions": []}


def test_sessions_command_does_not_import_textual(tmp_path: Path) -> None:
    code = (
        "import sys; from deploytui.cli import main; "
        f"main(['sessions', '--sessions-dir', {str(tmp_path)!r}]); "
        "assert 'textual' not in sys.modules, 'textual imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

"""`deploytui sessions` names each session's exported record file and who signed it (deployer, then the
reviewer's countersignature), for both stores: `export -o FILE` records an `exported` event through the
session's change path, and the listing reads the file it names as it is now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deploytui.cli import main
from deploytui.core.session import Finish, SignOff, Tick
from deploytui.storage.fs import SessionStore
from tests.integration.test_signing import make_key
from tests.support.store_support import backend, make_checklist

__all__ = ["backend"]  # the fixture, imported for pytest


def _where(store: Any) -> list[str]:
    if isinstance(store, SessionStore):
        return ["--sessions-dir", str(store.dir)]
    return ["--store", store.url, "--sessions-dir", "unused-sessions"]


def _listing(store: Any, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    capsys.readouterr()
    assert main(["sessions", *_where(store), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["sessions"]
    assert main(["sessions", *_where(store)]) == 0
    return row, capsys.readouterr().out


def test_sessions_lists_the_record_file_and_its_signers(
    backend: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    checklist = make_checklist(tmp_path)
    with backend.create(checklist, "alice") as live:
        sid = live.id
        live.apply(Tick("pre/tests-pass", "alice"))
        live.apply(SignOff({"deployed-by": "alice", "reviewed-by": "bob", "result": "Success"}, "alice"))
        live.apply(Finish("success", "alice"))
    row, text = _listing(backend, capsys)
    assert "record" not in row
    assert text.splitlines()[0].split()[-1] == "RECORD" and text.splitlines()[1].endswith(" -")

    alice, bob = make_key(tmp_path, "alice", "ed25519"), make_key(tmp_path, "bob", "ed25519")
    assert main(["export", sid, *_where(backend), "-o", "rec.md", "--sign", str(alice)]) == 0
    record = str((tmp_path / "rec.md").resolve())
    assert backend.load(sid).record.path == record  # the session (either store) knows it
    row, text = _listing(backend, capsys)
    assert row["record"]["path"] == record and row["record"]["state"] == "signed"
    assert [(s["role"], s["principal"], s["matches_body"]) for s in row["record"]["signatures"]] == [
        ("deployer", "alice", True)
    ]
    assert f"{record} (signed: deployer alice)" in text

    assert main(["sign", "rec.md", "--key", str(bob), "--role", "reviewer"]) == 0
    row, text = _listing(backend, capsys)
    assert [s["role"] for s in row["record"]["signatures"]] == ["deployer", "reviewer"]
    assert f"{record} (signed: deployer alice, reviewer bob)" in text

    (tmp_path / "rec.md").write_text((tmp_path / "rec.md").read_text().replace("success", "rollback", 1))
    row, _text = _listing(backend, capsys)
    assert row["record"]["state"] == "changed"
    (tmp_path / "rec.md").unlink()
    row, text = _listing(backend, capsys)
    assert row["record"]["state"] == "missing" and f"{record} (missing)" in text


def test_an_unsigned_export_is_listed_unsigned_and_verify_session_still_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export event comes after the events the record counts: re-rendering it from the session gives
    the same bytes (verify --session), and a second export names the newer file."""
    monkeypatch.chdir(tmp_path)
    store = SessionStore(tmp_path / "sessions")
    with store.create(make_checklist(tmp_path), "alice") as live:
        sid = live.id
        live.apply(Tick("pre/tests-pass", "alice"))
    assert main(["export", sid, *_where(store), "-o", "first.md"]) == 0
    assert main(["export", sid, *_where(store), "-o", "second.md"]) == 0
    row, text = _listing(store, capsys)
    assert row["record"] == {"path": str(tmp_path / "second.md"), "state": "unsigned", "signatures": []}
    assert f"{tmp_path / 'second.md'} (unsigned)" in text
    from deploytui.core.record import parse_record_data
    from deploytui.services.records import render_again

    for name in ("first.md", "second.md"):
        body = (tmp_path / name).read_text()
        assert render_again(store, sid, parse_record_data(body)) == body

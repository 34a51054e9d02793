"""The headless commands' engine runs go on uvloop's event loop where it is installed;
DEPLOYTUI_LOOP=asyncio keeps asyncio's own. (The app's engine thread keeps asyncio's loop: see
engine/loop.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deploytui.cli import main
from deploytui.core.spec import CheckSpec
from deploytui.core.status import Status
from deploytui.engine import Engine
from deploytui.engine import loop as engine_loop

uvloop = pytest.importorskip("uvloop")


async def _loop_module() -> str:
    return engine_loop.loop_name(asyncio.get_running_loop())


def test_headless_runs_go_on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(engine_loop.LOOP_ENV, raising=False)
    assert engine_loop.loop_factory() is uvloop.new_event_loop
    assert engine_loop.run(_loop_module()) == "uvloop"


def test_deploytui_loop_asyncio_keeps_asyncios_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(engine_loop.LOOP_ENV, " AsyncIO ")
    assert engine_loop.run(_loop_module()) == "asyncio"


def test_a_check_runs_to_its_verdict_on_uvloop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(engine_loop.LOOP_ENV, raising=False)
    engine = Engine(log_dir=tmp_path / "logs", base_dir=tmp_path, env={"FOO": "a-real-value"})
    spec = CheckSpec(item="env/foo", kind="env", index=0, params={"names": ["FOO"]})
    outcome = engine_loop.run(engine.run_check(spec, "r1", lambda event: None))
    assert outcome.status is Status.PASSED, outcome.reason


@pytest.mark.parametrize("value", ["asycnio", "trio"])
def test_a_loop_it_does_not_know_is_one_line_before_any_session_opens(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "checklist.md").write_text("# Release\n- [ ] Environment ready\n")
    config = tmp_path / "deploytui.toml"
    config.write_text(
        'checklist = "checklist.md"\n[[check]]\nitem = "environment-ready"\nkind = "env"\nnames = ["HOME"]\n'
    )
    monkeypatch.setenv(engine_loop.LOOP_ENV, value)
    sessions = tmp_path / "sessions"
    assert main(["check", str(config), "--sessions-dir", str(sessions)]) == 2
    err = capsys.readouterr().err
    assert f"DEPLOYTUI_LOOP='{value}': say 'asyncio' or 'uvloop'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not sessions.exists() or not any(sessions.iterdir())  # no session was started


def test_uvloop_asked_for_by_name_runs_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(engine_loop.LOOP_ENV, "uvloop")
    assert engine_loop.run(_loop_module(), engine_loop.loop_factory()) == "uvloop"

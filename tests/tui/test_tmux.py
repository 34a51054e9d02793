"""The real `deploytui` command in a real terminal (tmux, 120×40), driven by keystrokes as a person would."""

from __future__ import annotations

import json
import os
import signal
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tmux_drive import Tmux, deploytui_argv, tmux_or_skip
from tests.support.tui_support import SECRET, write_project

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    driver = tmux_or_skip(120, 40)
    try:
        yield driver
    finally:
        driver.close()


def app_env(tmp: Path) -> dict[str, str]:
    return {
        "DEPLOYTUI_CONFIG_DIR": str(tmp / "user-config"),
        "DEPLOY_TOKEN": SECRET,
        "PYTHONPATH": str(ROOT),
        "TERM": "xterm-256color",
        "SSH_AUTH_SOCK": "",
    }


def item_status(tmp: Path, item: str) -> str:
    (toml,) = (tmp / "sessions").glob("*.toml")
    data = tomllib.loads(toml.read_text())
    return str(data["items"][item]["status"])


def test_walk_a_checklist_in_a_terminal_and_quit(tmux: Tmux, tmp_path: Path) -> None:
    config = write_project(tmp_path, flood=50, quick=True)
    tmux.start(deploytui_argv(str(config), "--new", "--operator", "carol"), tmp_path, app_env(tmp_path))
    screen = tmux.wait_for("Release checklist")
    assert "carol" in screen and "0/6" in screen and "○ Tests pass" in screen

    tmux.send("R")  # run every check
    tmux.wait_for("1 failed", "✔ Tests pass", "✘ Config valid")

    tmux.send("f")  # jump to the failure: its output is in the run pane
    screen = tmux.wait_for("bad key: retries")
    assert "exit code 1" in screen

    tmux.send("/")
    tmux.wait_for("filter: text")
    tmux.type("push")
    screen = tmux.wait_gone("Tests pass")  # filtered out
    assert "Push image" in screen
    tmux.send("Escape")
    tmux.wait_for("Tests pass")

    tmux.send("f")  # next open item after the failure: Notify team (manual) -> tick it
    tmux.wait_for("preflight/notify-team  ·")
    tmux.send("Space")
    tmux.wait_for("☑ Notify team")

    tmux.send("q")
    assert tmux.wait_exit() == 0
    assert item_status(tmp_path, "preflight/notify-team") == "done"
    assert item_status(tmp_path, "preflight/config-valid") == "failed"
    assert SECRET not in "".join(p.read_text() for p in (tmp_path / "sessions").rglob("*") if p.is_file())


def test_sigkill_mid_run_then_resume_shows_running_checks_interrupted(tmux: Tmux, tmp_path: Path) -> None:
    config = write_project(tmp_path, flood=50)
    tmux.start(deploytui_argv(str(config), "--new", "--operator", "carol"), tmp_path, app_env(tmp_path))
    tmux.wait_for("Release checklist")
    tmux.send("R")
    tmux.wait_for("1 running")  # every check finished but the 30 s probe
    (lock,) = (tmp_path / "sessions").glob("*.lock")
    os.kill(json.loads(lock.read_text())["pid"], signal.SIGKILL)  # the app, as the session lock names it
    assert tmux.wait_exit() == 128 + signal.SIGKILL

    again = Tmux(120, 40)
    try:
        again.start(deploytui_argv(str(config), "--resume"), tmp_path, app_env(tmp_path))
        screen = again.wait_for("Release checklist")
        assert "↯ Slow probe" in screen  # was running: interrupted
        assert "✔ Tests pass" in screen and "✘ Config valid" in screen  # finished ones as they were
        again.send("q")
        assert again.wait_exit() == 0
    finally:
        again.close()
    assert item_status(tmp_path, "preflight/slow-probe") == "interrupted"

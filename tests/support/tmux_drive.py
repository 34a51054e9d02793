"""Drive the real `deploytui` in tmux as a person would: a 120×40 terminal, keystrokes, screen captures.

Used by tests/tui/test_tmux.py; also runnable by hand to watch a short session and print each screen:

    .venv/bin/python tests/support/tmux_drive.py

Each driver uses its own tmux server socket (`tmux -L`), so it never touches the user's tmux.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WAIT_SECONDS = 30.0
"""Longest a driver waits for text to appear on the screen (a cold start imports textual: ~1 s)."""

POLL_SECONDS = 0.1
"""How often the screen is captured while waiting (the app is another process: polling is the only way)."""


class TmuxError(RuntimeError):
    pass


def tmux_or_skip(width: int = 120, height: int = 40) -> Tmux:
    """A driver for a test: without tmux the test is skipped, or fails under DEPLOYTUI_REQUIRE_SERVICES."""
    import pytest

    from tests.servers.common import REQUIRE_SERVICES

    try:
        return Tmux(width, height)
    except TmuxError as exc:
        if REQUIRE_SERVICES:
            pytest.fail(str(exc))
        pytest.skip(str(exc))


class Tmux:
    """One detached tmux session running one command."""

    def __init__(self, width: int = 120, height: int = 40) -> None:
        if shutil.which("tmux") is None:
            raise TmuxError("tmux not found: apt-get install tmux")
        self.socket = f"deploytui-test-{uuid.uuid4().hex[:8]}"
        self.name = "deploytui"
        self.width = width
        self.height = height

    def _tmux(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        if check and proc.returncode != 0:
            raise TmuxError(f"tmux {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def start(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        """Run `argv` in a fresh session of this size; its exit status is written to a file for
        `wait_exit` (tmux itself may see the terminal close before it learns the status)."""
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        self.status_file = Path(tempfile.mkdtemp(prefix="deploytui-tmux-")) / "status"
        # COLUMNS/LINES inherited from a test runner would override the real terminal size.
        command = (
            f"cd {shlex.quote(str(cwd))} && env -u COLUMNS -u LINES {assignments} {shlex.join(argv)}; "
            f"echo $? > {shlex.quote(str(self.status_file))}"
        )
        self._tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            self.name,
            "-x",
            str(self.width),
            "-y",
            str(self.height),
            command,
        )

    def send(self, *keys: str) -> None:
        """tmux key names: "Enter", "Space", "Escape", "q", "R", "/"..."""
        for key in keys:
            self._tmux("send-keys", "-t", self.name, key)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.name, "-l", text)

    def capture(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, *texts: str, timeout: float = WAIT_SECONDS) -> str:
        """The screen once every one of `texts` is on it at once (a capture can fall between the repaints
        of two widgets: the header may count a result a frame before the tree shows it)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if all(text in screen for text in texts):
                return screen
            time.sleep(POLL_SECONDS)
        missing = [text for text in texts if text not in screen]
        raise TmuxError(f"{missing!r} did not appear within {timeout}s; the screen was:\n{screen}")

    def wait_gone(self, text: str, timeout: float = WAIT_SECONDS) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if text not in screen:
                return screen
            time.sleep(POLL_SECONDS)
        raise TmuxError(f"{text!r} still on screen after {timeout}s:\n{screen}")

    def wait_exit(self, timeout: float = WAIT_SECONDS) -> int:
        """The program's exit status (128+N when killed by signal N, as the shell reports it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = self.status_file.read_text().strip()
            except FileNotFoundError:
                text = ""
            if text:
                return int(text)
            time.sleep(POLL_SECONDS)
        raise TmuxError(f"the program did not exit within {timeout}s; the screen was:\n{self.capture()}")

    def close(self) -> None:
        self._tmux("kill-server", check=False)
        if hasattr(self, "status_file"):
            shutil.rmtree(self.status_file.parent, ignore_errors=True)


def deploytui_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "deploytui", *args]


def demo() -> int:
    """A short walk: open, run all checks, tick an item, look at help, quit; print each screen."""
    sys.path.insert(0, str(ROOT))
    from tests.support.tui_support import write_project

    with tempfile.TemporaryDirectory(prefix="deploytui-tmux-") as tmp:
        project = Path(tmp)
        config = write_project(project, flood=50)
        config.write_text(config.read_text().replace('run = "sleep 30"', 'run = "sleep 1"'))
        env = {
            "DEPLOYTUI_CONFIG_DIR": str(project / "user-config"),
            "DEPLOY_TOKEN": "demo-token-value",
            "PYTHONPATH": str(ROOT),
            "TERM": "xterm-256color",
        }
        tmux = Tmux()
        try:
            tmux.start(
                deploytui_argv(str(config), "--new", "--operator", os.environ.get("USER", "demo")),
                project,
                env,
            )
            print(tmux.wait_for("Release checklist"))
            tmux.send("R")
            print(tmux.wait_for("1 failed"))
            tmux.send("?")
            print(tmux.wait_for("Statuses and markers"))
            tmux.send("Escape")
            tmux.wait_gone("Statuses and markers")
            tmux.send("q")
            print("exit status:", tmux.wait_exit())
        finally:
            tmux.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(demo())

"""Two jump boxes on one PostgreSQL store (issue 14's "done when"), each a real `deploytui` in its own tmux
terminal with its own HOME: operator A walks the bundled (seed) checklist and runs its "Build Docker image"
step; reviewer B follows with `--read-only` and sees each tick and each streamed line. A is SIGKILLed
mid-step; B takes the session over at once and sees the step interrupted; the record exported from the
store is signed by both and verifies with `verify --session`.

The `docker` on A's PATH stands in for the real CLI (the deployment's world, not a dependency of ours):
it streams numbered build steps, one every 50 ms, for longer than the test watches.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_support import run_deploytui
from tests.support.store_support import fresh_database
from tests.support.tmux_drive import Tmux, TmuxError, deploytui_argv, tmux_or_skip

pytestmark = [pytest.mark.services, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

BUILD_ITEM = "deployment-steps/2-deployment/build-docker-image"
TICKED = "Security review"

FAKE_DOCKER = """#!/bin/sh
# Stands in for `docker build`: numbered steps, one every 50 ms (far longer than the test watches).
echo $$ > "{pidfile}"
i=1
while [ $i -le 100000 ]; do echo "Step $i : RUN layer $i"; i=$((i+1)); sleep 0.05; done
"""

STEP = re.compile(r"Step (\d+) : RUN layer \1\b")


class Box:
    """One jump box: its own HOME (so its own cache and spool), working directory and terminal."""

    def __init__(self, root: Path, name: str, url: str) -> None:
        self.home = root / name / "home"
        self.work = root / name / "work"
        self.home.mkdir(parents=True)
        self.work.mkdir(parents=True)
        self.url = url
        self.env = {"HOME": str(self.home), "XDG_CACHE_HOME": str(self.home / ".cache"),
                    "XDG_CONFIG_HOME": str(self.home / ".config"), "TERM": "xterm-256color",
                    "PYTHONPATH": str(ROOT), "SSH_AUTH_SOCK": ""}
        self.terminals: list[Tmux] = []

    def open(self, *args: str) -> Tmux:
        tmux = tmux_or_skip(120, 40)
        self.terminals.append(tmux)
        tmux.start(deploytui_argv("--store", self.url, *args), self.work, self.env)
        return tmux

    def cli(self, *args: str) -> Any:
        return run_deploytui(*args, "--store", self.url, cwd=self.work, env=self.env)

    def close(self) -> None:
        for tmux in self.terminals:
            tmux.close()


@pytest.fixture
def boxes(postgres_server: Any, tmp_path: Path) -> Iterator[tuple[Box, Box]]:
    url = fresh_database(postgres_server)
    a, b = Box(tmp_path, "box-a", url), Box(tmp_path, "box-b", url)
    pidfile = tmp_path / "docker.pid"
    shim = a.home / "bin" / "docker"
    shim.parent.mkdir()
    shim.write_text(FAKE_DOCKER.format(pidfile=pidfile))
    shim.chmod(0o755)
    a.env["PATH"] = f"{shim.parent}:{os.environ['PATH']}"
    try:
        yield a, b
    finally:
        a.close()
        b.close()
        if pidfile.exists():  # the step outlives its killed parent until its next write: end it here
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


def go_to(tmux: Tmux, title: str, item_id: str) -> None:
    """Filter the tree to `title`, then move the cursor until the detail pane shows `item_id`."""
    tmux.send("/")
    tmux.wait_for("filter:")
    tmux.type(title)
    tmux.wait_for(f"{title}")
    tmux.send("Enter")
    tmux.wait_gone("filter:", timeout=5)
    for _ in range(8):
        with contextlib.suppress(TmuxError):
            tmux.wait_for(f"{item_id}  ·", timeout=1.0)
            return
        tmux.send("Down")
    tmux.wait_for(f"{item_id}  ·", timeout=5)


def steps(screen: str) -> list[int]:
    return [int(m.group(1)) for m in STEP.finditer(screen)]


def wait_for_steps(tmux: Tmux, beyond: int, timeout: float = 15.0) -> list[int]:
    """The steps on screen once the newest is past `beyond`."""
    deadline = time.monotonic() + timeout
    shown: list[int] = []
    while time.monotonic() < deadline:
        shown = steps(tmux.capture())
        if shown and shown[-1] > beyond:
            return shown
        time.sleep(0.1)
    raise TmuxError(f"no step past {beyond} within {timeout}s (last shown: {shown[-3:]}):\n{tmux.capture()}")


def writer_pid(url: str, session_id: str) -> int:
    """The app process holding the session, as the store records its writer."""
    import psycopg

    with psycopg.connect(url) as conn:
        query = "SELECT pid FROM deploytui.writers WHERE session_id = %s"
        row = conn.execute(query, (session_id,)).fetchone()
    assert row, "no writer recorded"
    return int(row[0])


def test_a_reviewer_on_another_box_follows_then_takes_over_and_both_sign(
    boxes: tuple[Box, Box], tmp_path: Path
) -> None:
    a, b = boxes
    term_a = a.open("--new", "--operator", "alice")
    term_a.wait_for("Deployment Checklist")
    listed = b.cli("sessions", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    (session,) = [s["id"] for s in json.loads(listed.stdout)["sessions"]]

    term_b = b.open("--session", session, "--read-only", "--operator", "bob")
    assert "READ-ONLY" in term_b.wait_for("Deployment Checklist")

    # A ticks an item: B's tree shows it ticked.
    term_a.send("Down", "Down", "Down")
    term_a.wait_for("pre-deployment/code-review-completed/security-review  ·")
    term_a.send("Space")
    term_a.wait_for(f"☑ {TICKED}")
    term_b.wait_for(f"☑ {TICKED}")

    # Both look at the build step; A runs it, confirming the exact command.
    go_to(term_b, "Build Docker", BUILD_ITEM)
    go_to(term_a, "Build Docker", BUILD_ITEM)
    term_a.send("x")
    term_a.wait_for("This changes the world")
    assert "docker build -t rag-chatbot:latest ." in term_a.capture()
    term_a.send("Tab", "Tab", "Enter")  # Cancel (focused) → Copy command → Run it
    term_a.wait_for("Step 5 : RUN layer 5")

    # B sees the lines stream: every screen shows a gapless run of steps, and they advance.
    seen: list[int] = []
    for _ in range(6):
        shown = wait_for_steps(term_b, beyond=max(seen, default=0) + 2)
        assert shown == list(range(shown[0], shown[0] + len(shown))), shown
        seen.extend(shown)
    assert "▶ Build Docker image" in term_b.capture()
    last_seen = max(seen)

    # The box dies mid-step.
    os.kill(writer_pid(a.url, session), signal.SIGKILL)
    assert term_a.wait_exit() == 128 + signal.SIGKILL

    # B leaves the follower and opens the session for writing: the dead writer's lock is gone at once.
    term_b.send("q")
    assert term_b.wait_exit() == 0
    term_b2 = b.open("--session", session, "--operator", "bob")
    screen = term_b2.wait_for("may have partly run", timeout=20)
    assert "READ-ONLY" not in screen
    go_to(term_b2, "Build Docker", BUILD_ITEM)
    term_b2.wait_for("↯ last run: interrupted")
    term_b2.send("q")
    assert term_b2.wait_exit() == 0

    # Every line B saw streamed reached the store, in order, with nothing missing.
    from deploytui.storage.postgres import PostgresStore

    store = PostgresStore(a.url, local_dir=tmp_path / "reader")
    try:
        names = store.log_names(session)
        assert names, "the step's log is not in the store"
        logged: list[int] = []
        for name in names:
            with store.open_log(session, name) as log:
                logged.extend(steps(log.read().decode()))
    finally:
        store.close()
    assert logged[: last_seen] == list(range(1, last_seen + 1))

    # Sign-off and the four-eyes record, from the store, verified against the session.
    done = a.cli("signoff", session, "--set", "Deployed by=alice", "--set", "Reviewed by=bob",
                 "--set", "Result=Rollback", "--acknowledge-open", "--operator", "alice")
    assert done.returncode == 0, done.stderr
    from tests.integration.test_signing import allowed_signers, make_key

    alice, bob = make_key(a.home, "alice", "ed25519"), make_key(b.home, "bob", "ed25519")
    allowed_signers(b.work / "allowed_signers", [("alice", alice.with_suffix(".pub")),
                                                 ("bob", bob.with_suffix(".pub"))])
    exported = a.cli("export", session, "-o", "record.md", "--sign", str(alice))
    assert exported.returncode == 0, exported.stderr
    shutil.copy(a.work / "record.md", b.work / "record.md")
    signed = run_deploytui("sign", "record.md", "--key", str(bob), "--role", "reviewer", cwd=b.work,
                           env=b.env)
    assert signed.returncode == 0, signed.stderr
    record = (b.work / "record.md").read_text()
    assert "interrupted" in record and "Build Docker image" in record
    verified = b.cli("verify", "record.md", "--allowed-signers", "allowed_signers", "--session", session)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "the text is exactly what the session renders" in verified.stdout

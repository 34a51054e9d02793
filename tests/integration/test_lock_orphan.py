"""A writer killed while it was starting a check leaves that check's child holding the session lock for
a moment (a flock is shared across fork until the child's exec closes it): resuming right after the kill
waits for it instead of refusing, while a live holder is still refused at once."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploytui.core.errors import LockedError
from deploytui.storage.fs import SessionLock

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _holder(path: Path, pid: int) -> None:
    holder = {"user": "alice", "host": socket.gethostname(), "pid": pid, "since": "2026-01-01T00:00:00Z"}
    path.write_text(json.dumps(holder) + "\n")


def _hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    return child


def test_a_lock_left_to_an_orphan_of_a_dead_holder_is_taken_once_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "s.lock"
    dead = subprocess.Popen(["true"])
    dead.wait()
    child = _hold(path, 0.4)
    _holder(path, dead.pid)  # the holder the file names is gone; its orphan still has the flock
    started = time.monotonic()
    lock = SessionLock(path, "s")
    try:
        assert 0.1 < time.monotonic() - started < 1.9
        assert json.loads(path.read_text())["pid"] != dead.pid  # the new holder wrote itself in
    finally:
        lock.release()
        child.wait()


def test_a_live_holder_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.lock"
    child = _hold(path, 5)
    try:
        _holder(path, child.pid)
        started = time.monotonic()
        with pytest.raises(LockedError) as info:
            SessionLock(path, "s")
        assert time.monotonic() - started < 0.5
        assert f"pid {child.pid}" in str(info.value)
    finally:
        child.kill()
        child.wait()

"""Disk trouble under the sessions dir: read-only, missing, full. Each gives a clear one-line message,
leaves the previous state intact and nothing half-written.

We run as root, so chmod-based read-only is ignored; these tests use what works here: a read-only bind
mount, a tiny tmpfs (`size=64k`) for a full disk, and `chattr +i` for a directory that refuses new files
while already-open files stay writable. Each skips with the reason if the kernel or container refuses it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.core.errors import DeployError
from deploytui.core.session import AddNote, Tick
from deploytui.core.status import Status
from deploytui.storage.fs import SessionStore, verify_chain
from tests.support.cli_support import one_line_error, run_deploytui

TEXT = """# Deploy

## Pre

- [ ] Tests pass
- [ ] Review
- [ ] API up
"""
ITEMS = ["pre/tests-pass", "pre/review", "pre/api-up"]

BINDINGS = """\
checklist = "deploy.md"

[[check]]
item = "pre/api-up"
kind = "command"
run = "echo up"
"""


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def _try_mount(*argv: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting needs root (as root, chmod-based read-only would be ignored anyway)")
    proc = subprocess.run(["mount", *argv], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip(f"mount {' '.join(argv)} refused here: {proc.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    _try_mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def read_only_view(source: Path, target: Path) -> Iterator[Path]:
    """`target` shows `source` read-only (a bind mount remounted ro): every write gets EROFS."""
    target.mkdir(parents=True, exist_ok=True)
    _try_mount("--bind", str(source), str(target))
    try:
        proc = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(target)], capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0:
            pytest.skip(f"read-only remount refused here: {proc.stderr.strip()}")
        yield target
    finally:
        _umount(target)


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`chattr +i` on a directory: no file can be created, renamed or removed in it (root included)."""
    proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip(f"chattr +i refused here: {proc.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, timeout=30)


def _checklist(where: Path) -> Checklist:
    path = where / "deploy.md"
    path.write_text(TEXT)
    return parse_checklist(TEXT, path)


def _snapshot(store: SessionStore) -> dict[str, bytes]:
    """Every file under the sessions dir (but lock files, whose holder line changes) and its bytes."""
    return {
        str(p.relative_to(store.dir)): p.read_bytes()
        for p in sorted(store.dir.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    line = one_line_error(proc)
    assert line.startswith("deploytui: "), proc.stderr
    return line


# ------------------------------------------------------------------------------------------- read-only


def test_read_only_sessions_dir_refuses_writes_in_one_line_and_still_reads(tmp_path: Path) -> None:
    real = tmp_path / "sessions"
    store = SessionStore(real)
    checklist = _checklist(tmp_path)
    with store.create(checklist, "alice") as live:
        live.apply(Tick(ITEMS[0], "alice"))
        sid = live.id
    before = _snapshot(store)
    with read_only_view(real, tmp_path / "ro") as ro:
        ro_store = SessionStore(ro)
        # Opening for write (resume) and creating are refused with a message naming the dir.
        with pytest.raises(DeployError) as opened:
            ro_store.open(sid)
        assert "read-only" in str(opened.value) and str(ro) in str(opened.value)
        with pytest.raises(DeployError) as created:
            ro_store.create(checklist, "alice")
        assert "read-only" in str(created.value)
        # Reading still works: follow, list, export.
        follower = ro_store.open(sid, read_only=True)
        assert follower.session.items[ITEMS[0]].status is Status.DONE
        assert [i.id for i in ro_store.list()] == [sid]
        # The CLI says it in one line, exit 2, no traceback.
        (tmp_path / "deploytui.toml").write_text(BINDINGS)
        line = _one_line_error(run_deploytui("check", "--sessions-dir", str(ro), cwd=tmp_path))
        assert "read-only" in line
        listing = run_deploytui("sessions", "--sessions-dir", str(ro), cwd=tmp_path)
        assert listing.returncode == 0 and sid in listing.stdout
    assert _snapshot(store) == before


def test_missing_sessions_dir_is_created_or_reported(tmp_path: Path) -> None:
    (tmp_path / "deploytui.toml").write_text(BINDINGS)
    _checklist(tmp_path)
    missing = tmp_path / "not" / "yet" / "sessions"
    listing = run_deploytui("sessions", "--sessions-dir", str(missing), cwd=tmp_path)
    assert listing.returncode == 0 and "no sessions in" in listing.stdout
    assert not missing.exists()  # listing never creates anything
    ran = run_deploytui("check", "--sessions-dir", str(missing), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert len(SessionStore(missing).ids()) == 1
    # A sessions "dir" that is a file: one line naming it.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    line = _one_line_error(run_deploytui("check", "--sessions-dir", str(blocker / "sessions"), cwd=tmp_path))
    assert str(blocker / "sessions") in line
    # Opening a session that is not there names it and the dir.
    gone = run_deploytui("export", "20260101T000000Z-beef", "--sessions-dir", str(missing), cwd=tmp_path)
    line = _one_line_error(gone)
    assert "20260101T000000Z-beef" in line


# ------------------------------------------------------------------------------------------------ full


def _fill(where: Path) -> Path:
    """Fill the filesystem under `where` to the last byte."""
    filler = where / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_full_disk_refuses_the_change_and_keeps_the_previous_state(tmp_path: Path) -> None:
    checklist = _checklist(tmp_path)
    with tmpfs(tmp_path / "small", "64k") as mnt:
        store = SessionStore(mnt / "sessions")
        live = store.create(checklist, "alice")
        try:
            live.apply(Tick(ITEMS[0], "alice"))
            before = _snapshot(store)
            filler = _fill(mnt)
            with pytest.raises(DeployError) as info:
                live.apply(AddNote(ITEMS[1], "alice", "x" * 5000))
            message = str(info.value)
            assert "No space left on device" in message and "events.jsonl" in message
            assert "\n" not in message
            # Nothing half-written: the log, the session file and the dir are byte for byte as before.
            assert _snapshot(store) == before
            assert live.session.items[ITEMS[1]].notes == []
            # Space again: work goes on, and everything loads.
            filler.unlink()
            live.apply(Tick(ITEMS[1], "alice"))
        finally:
            live.close()
        assert verify_chain(store.dir / live.id / "events.jsonl")[0] == 3
        loaded = store.load(live.id)
        assert [loaded.items[i].status for i in ITEMS] == [Status.DONE, Status.DONE, Status.PENDING]


def test_full_disk_when_creating_a_session_leaves_nothing_listed(tmp_path: Path) -> None:
    checklist = _checklist(tmp_path)
    with tmpfs(tmp_path / "small", "64k") as mnt:
        store = SessionStore(mnt / "sessions")
        store.dir.mkdir()
        _fill(mnt)
        with pytest.raises(DeployError) as info:
            store.create(checklist, "alice")
        assert "No space left on device" in str(info.value)
        assert store.list() == []
        assert not [p for p in store.dir.rglob("*.tmp")]


def test_full_disk_through_the_cli_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "deploytui.toml").write_text(BINDINGS)
    _checklist(tmp_path)
    with tmpfs(tmp_path / "small", "64k") as mnt:
        (mnt / "sessions").mkdir()
        _fill(mnt)
        line = _one_line_error(run_deploytui("check", "--sessions-dir", str(mnt / "sessions"), cwd=tmp_path))
        assert "No space left on device" in line


def test_session_file_that_cannot_be_saved_keeps_the_change_in_the_log(tmp_path: Path) -> None:
    """The log took the change, the session file (a checkpoint) could not be replaced: the change is not
    lost, the old session file stays whole, no temp file is left, and the next close catches it up."""
    checklist = _checklist(tmp_path)
    store = SessionStore(tmp_path / "sessions")
    live = store.create(checklist, "alice")
    sid = live.id
    try:
        old_toml = live.toml_path.read_bytes()
        with immutable(store.dir):
            live.apply(Tick(ITEMS[0], "alice"))  # acknowledged: its line and the head record, in <id>/
            with pytest.raises(DeployError) as info:
                live.checkpoint()
            assert "the change is in events.jsonl but the session file could not be saved" in str(info.value)
            assert live.toml_path.read_bytes() == old_toml
            assert not [p for p in store.dir.iterdir() if p.name.endswith(".tmp")]
    finally:
        live.close()
    assert verify_chain(store.dir / sid / "events.jsonl")[0] == 2
    with store.open(sid) as reopened:
        assert reopened.session.items[ITEMS[0]].status is Status.DONE
    assert live.toml_path.read_bytes() != old_toml  # caught up from the log

"""The single-writer lock: an exclusive flock on `sessions/<id>.lock` (never the TOML itself: os.replace
swaps its inode), naming its holder (user, host, pid) inside the file."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from deploytui.core.errors import DeployError, LockedError
from deploytui.core.session import (
    now_iso,
)
from deploytui.storage.fs.atomic import FILE_MODE

if TYPE_CHECKING:
    pass


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


# -------------------------------------------------------------------------------------------------- lock


ORPHAN_WAIT_SECONDS = 2.0
"""How long opening waits for a lock whose recorded holder is dead. A process killed while it was
starting a check's child leaves that child holding the lock (a flock is shared across fork) until the
child execs its command, which closes the descriptor (O_CLOEXEC): moments, not longer."""


def holder_is_dead(path: Path) -> bool:
    """Whether the lock file names a process on this host that no longer runs."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        if holder.get("host") != socket.gethostname():
            return False
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return False


class SessionLock:
    """An exclusive flock on sessions/<id>.lock naming its holder (user, host, pid) inside the file."""

    def __init__(self, path: Path, session_id: str, *, sync: bool = True) -> None:
        """Take the lock and write its holder; `sync=False` leaves the holder's fsync to `sync()` (a new
        session's first frame does not wait for the disk)."""
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except PermissionError:
            raise LockedError(
                f"session {session_id} belongs to another user (cannot open its lock file for writing); "
                "open it with --read-only to follow it",
                path=path,
            ) from None
        except OSError as exc:
            raise DeployError(write_refused(exc, path.parent), path=path) from None
        deadline = time.monotonic() + ORPHAN_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(self._fd)
                    self._fd = -1
                    raise DeployError(f"cannot lock the session: {exc.strerror}", path=path) from None
                if holder_is_dead(path) and time.monotonic() < deadline:
                    time.sleep(0.02)  # an orphan of the dead holder still has the lock: it goes at its exec
                    continue
                os.close(self._fd)
                self._fd = -1
                raise LockedError(
                    f"session {session_id} is open by {describe_holder(path)}; "
                    "close it there, or open it with --read-only to follow it"
                ) from None
        holder = {
            "user": current_user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": now_iso(),
        }
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, (json.dumps(holder) + "\n").encode(), 0)
            if sync:
                os.fsync(self._fd)
        except OSError as exc:  # a full disk: nothing could be saved either, so refuse now
            self.release()
            raise DeployError(write_refused(exc, path.parent), path=path) from None

    def sync(self) -> None:
        """The holder record on disk (what `__init__(sync=False)` left to the caller, who knows whether it
        still owes it: `LiveSession`). OSError as os.fsync raises it."""
        if self._fd >= 0:
            os.fsync(self._fd)

    def release(self) -> None:
        if self._fd >= 0:
            # Forget the holder, then close (which drops the flock). The file stays: unlinking a lock
            # file races with a process about to lock it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = -1


def write_refused(exc: OSError, sessions_dir: Path) -> str:
    """Why the sessions dir cannot take a write, in words the operator can act on."""
    if exc.errno == errno.EROFS:
        return (
            f"the sessions dir {sessions_dir} is on a read-only file system: sessions there can only be "
            "followed (--read-only) or exported; pick a writable --sessions-dir to work"
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write in the sessions dir {sessions_dir}: {exc.strerror} (free some space)"
    return f"cannot write in the sessions dir {sessions_dir}: {exc.strerror or exc}"


def describe_holder(path: Path) -> str:
    """`user@host (pid N, since T)` from a lock file (retried briefly: the holder writes it after locking)."""
    for _ in range(20):
        try:
            holder = json.loads(path.read_text(encoding="utf-8"))
            return f"{holder['user']}@{holder['host']} (pid {holder['pid']}, since {holder['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.005)
    return "another process (holder unknown)"



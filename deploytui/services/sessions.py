"""Sessions: which store a command works on, and how a SESSION argument names a session in it.

Both faces go through here, so `deploytui export SESSION`, `verify --session SESSION` and the app agree
on what SESSION means: an id in the sessions dir, a path to `<id>.toml`, or a path to the session's
directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from deploytui.core.errors import DeployError
from deploytui.storage.base import SessionRepository
from deploytui.storage.fs import EVENTS_FILE, SessionStore


def open_store(sessions_dir: str | Path) -> SessionRepository:
    """The store sessions live in: the file store in `sessions_dir` (the embedded default)."""
    return SessionStore(sessions_dir)


def resolve_session(source: str | Path, sessions_dir: str | Path) -> tuple[SessionRepository, str]:
    """SESSION as given on the command line: an id in the sessions dir, a path to <id>.toml, or a
    path to the session's directory."""
    text = str(source)
    path = Path(text)
    if text.endswith(".toml") or os.sep in text or path.is_dir():
        if path.suffix == ".toml":
            return SessionStore(path.parent), path.stem
        if path.is_dir():
            if (path / EVENTS_FILE).exists():
                return SessionStore(path.parent), path.name
            raise DeployError(f"not a session directory (no {EVENTS_FILE})", path=path)
        raise DeployError("not a session file nor a session directory", path=path)
    return open_store(sessions_dir), text

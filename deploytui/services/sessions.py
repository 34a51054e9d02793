"""Sessions: which store a command works on, and how a SESSION argument names a session in it.

Both faces go through here, so `deploytui export SESSION`, `verify --session SESSION` and the app agree
on what SESSION means: an id in the store, a path to `<id>.toml`, or a path to the session's directory.

The store: `--store postgresql://…`, else $DEPLOYTUI_STORE, else `[store] url` in deploytui.toml, else
the file store in the sessions dir (`--sessions-dir`, $DEPLOYTUI_SESSIONS, ./sessions).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from deploytui.core.errors import DeployError
from deploytui.storage.base import SessionRepository
from deploytui.storage.fs import EVENTS_FILE, SessionStore

if TYPE_CHECKING:
    from deploytui.core.config import Config

STORE_ENV = "DEPLOYTUI_STORE"


def is_store_url(text: str | Path) -> bool:
    """A PostgreSQL URL (`postgresql://…`, `postgres://…`), as --store and [store] url take."""
    return str(text).startswith(("postgresql://", "postgres://"))


def store_location(store: str | None, sessions_dir: str | Path, config: Config | None = None) -> str | Path:
    """Where sessions live for this command: the --store URL, $DEPLOYTUI_STORE, [store] url, or the
    sessions dir."""
    chosen = store or os.environ.get(STORE_ENV) or (config.store_url if config is not None else None)
    if chosen:
        if not is_store_url(chosen):
            raise DeployError(
                f"--store / ${STORE_ENV} must be a PostgreSQL URL (postgresql://user@host/db), not"
                f" {chosen[:40]!r}; a sessions dir is given with --sessions-dir"
            )
        return chosen
    return sessions_dir


def open_store(location: str | Path) -> SessionRepository:
    """The store sessions live in: PostgreSQL for a postgresql:// URL (psycopg is imported only then),
    else the file store in that sessions dir (the embedded default)."""
    if is_store_url(location):
        from deploytui.storage.postgres import PostgresStore

        return PostgresStore(str(location))
    return SessionStore(location)


def resolve_session(source: str | Path, sessions_dir: str | Path) -> tuple[SessionRepository, str]:
    """SESSION as given on the command line: an id in the store (`sessions_dir`: a sessions dir or a
    store URL), a path to <id>.toml, or a path to the session's directory."""
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

"""Sessions: which store a command works on, and how a SESSION argument names a session in it.

Both faces go through here, so `deploytui export SESSION`, `verify --session SESSION` and the app agree
on what SESSION means: an id in the store, a path to `<id>.toml`, or a path to the session's directory.

The store: `--store postgresql://…`, else $DEPLOYTUI_STORE, else `[store] url` in deploytui.toml, else
the file store in the sessions dir (`--sessions-dir`, $DEPLOYTUI_SESSIONS, ./sessions).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deploytui.core.errors import DeployError
from deploytui.core.status import Status
from deploytui.storage.base import SessionRepository
from deploytui.storage.fs import EVENTS_FILE, SessionInfo, SessionStore

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


# ------------------------------------------------------------------ a session as one row of a listing

ROW_HEADERS = ["ID", "STARTED", "UPDATED", "OPERATOR", "STATE", "CHECKLIST", "ITEMS"]
"""The columns of `deploytui sessions` and of the app's session picker (`deploytui --read-only`)."""

COUNT_ORDER = [s for s in Status]
"""Columns of the counts summary, in the order README.md ("Keys") lists the statuses."""

_SHORT = {
    Status.PENDING: "pend",
    Status.RUNNING: "run",
    Status.PASSED: "pass",
    Status.FAILED: "fail",
    Status.ERROR: "err",
    Status.DONE: "done",
    Status.SKIPPED: "skip",
    Status.OVERRIDDEN: "ovr",
    Status.INTERRUPTED: "intr",
    Status.FLAKY: "flaky",
    Status.BLOCKED: "blkd",
}


def session_row(info: SessionInfo) -> list[str]:
    """One session's cells under ROW_HEADERS, each one printable line (the files are anyone's to edit)."""
    if info.error is not None:
        row = [info.id, "-", "-", "-", "UNREADABLE", "-", info.error]
    else:
        row = [
            info.id,
            short_time(info.started),
            short_time(info.updated),
            info.operator,
            _state(info),
            info.checklist_title or info.checklist,
            _counts_text(info),
        ]
    return [_clean(cell) for cell in row]


def _counts_text(info: SessionInfo) -> str:
    parts = [f"{info.counts[s]} {_SHORT[s]}" for s in COUNT_ORDER if info.counts.get(s, 0)]
    return ", ".join(parts) or "no items"


def _state(info: SessionInfo) -> str:
    if info.finished is not None:
        return f"finished {info.result or ''}".strip()
    return "open"


def _clean(text: str) -> str:
    """One printable line (ids, names and paths come from files anyone could have edited)."""
    return "".join(c if c.isprintable() else "?" for c in text.replace("\n", " "))


def readable_time(iso: str | None, now: datetime) -> str:
    """An ISO time as an operator reads it, in the zone of `now` (pass the app's clock, so that what
    "today" is never depends on the machine's wall clock): `21:19:58` today, `2026-11-30 21:19` on
    another day. Text that is not a time is returned as it is."""
    if not iso:
        return "-"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if moment.tzinfo is not None and now.tzinfo is not None:
        moment = moment.astimezone(now.tzinfo)
    if moment.date() == now.date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def short_time(iso: str) -> str:
    """2026-11-25T09:15:00.123Z -> 2026-11-25 09:15:00Z (UTC, to the second)."""
    if len(iso) >= 19 and iso[10] == "T":
        return f"{iso[:10]} {iso[11:19]}Z"
    return iso or "-"

"""Both stores behind one fixture, for the store contract suite (tests/integration/test_store_contract.py)
and the PostgreSQL store's own tests: a database per test, made from template0 on the suite's throwaway
cluster."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.storage.fs import SessionStore
from tests.support.clock_support import TickingClock

TEXT = """# Deploy

## Pre

- [ ] Tests pass
- [ ] Review
- [ ] API up
"""
ITEMS = ["pre/tests-pass", "pre/review", "pre/api-up"]


def make_checklist(tmp_path: Path) -> Checklist:
    path = tmp_path / "checklist.md"
    path.write_text(TEXT)
    return parse_checklist(TEXT, path)


def fresh_database(server: Any) -> str:
    """A new, empty database (CREATE DATABASE … TEMPLATE template0); its superuser URL."""
    name = f"store_{secrets.token_hex(6)}"
    server.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    return str(server.url_for(name))


def pg_store(server: Any, tmp_path: Path, url: str | None = None, **options: Any) -> Any:
    from deploytui.storage.postgres import PostgresStore

    options.setdefault("clock", TickingClock())
    return PostgresStore(url or fresh_database(server), local_dir=tmp_path / "local", **options)


@pytest.fixture(params=["file", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A store of each kind, empty, with a clock that does not depend on the day."""
    if request.param == "file":
        yield SessionStore(tmp_path / "sessions", clock=TickingClock())
        return
    server = request.getfixturevalue("postgres_server")
    store = pg_store(server, tmp_path)
    try:
        yield store
    finally:
        store.close()


def damage_event(store: Any, session_id: str, seq: int) -> None:
    """Alter event `seq` behind the store's back (one byte of its text changed), as a bad disk or a hand
    edit would."""
    if isinstance(store, SessionStore):
        path = store.session_dir(session_id) / "events.jsonl"
        lines = path.read_bytes().split(b"\n")
        lines[seq - 1] = lines[seq - 1].replace(b'"by":"', b'"by":"X', 1)
        path.write_bytes(b"\n".join(lines))
        return
    with store.reading() as conn:
        conn.execute(
            'UPDATE deploytui.events SET line = replace(line, \'"by":"\', \'"by":"X\')'
            " WHERE session_id = %s AND seq = %s",
            (session_id, seq),
        )

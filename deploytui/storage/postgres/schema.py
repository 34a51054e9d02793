"""The `deploytui` schema: created and migrated by deploytui itself, versioned in `schema_version`.

Each entry of MIGRATIONS takes the schema from version i to i+1; a store whose schema is newer than
this deploytui knows is refused (an older deploytui must not write what it does not understand).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deploytui.core.errors import DeployError

if TYPE_CHECKING:
    import psycopg

SCHEMA = "deploytui"

MIGRATION_LOCK = 0x6465706C6F79  # "deploy": one migration at a time, across every deploytui process

MIGRATIONS: list[str] = [
    # 1: sessions, their hash-chained events, run logs in chunks, the writer holding each session.
    """
    CREATE TABLE deploytui.sessions (
        id text PRIMARY KEY,
        checklist_path text NOT NULL,
        checklist_sha256 text NOT NULL,
        checklist_title text NOT NULL,
        operator text NOT NULL,
        host text NOT NULL,
        started text NOT NULL,
        updated text NOT NULL,
        finished text,
        result text,
        counts jsonb NOT NULL DEFAULT '{}',
        seq integer NOT NULL,
        head text NOT NULL,
        checkpoint_seq integer NOT NULL DEFAULT 0,
        checkpoint_head text NOT NULL DEFAULT '',
        state text
    );
    CREATE TABLE deploytui.events (
        session_id text NOT NULL REFERENCES deploytui.sessions (id) ON DELETE CASCADE,
        seq integer NOT NULL CHECK (seq >= 1),
        prev_hash text NOT NULL,
        hash text NOT NULL,
        line text NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    CREATE TABLE deploytui.events_aside (
        session_id text NOT NULL,
        seq integer NOT NULL,
        line text NOT NULL,
        set_aside text NOT NULL,
        why text NOT NULL
    );
    CREATE TABLE deploytui.logs (
        id bigserial PRIMARY KEY,
        session_id text NOT NULL REFERENCES deploytui.sessions (id) ON DELETE CASCADE,
        name text NOT NULL,
        chunk integer NOT NULL,
        data bytea NOT NULL,
        UNIQUE (session_id, name, chunk)
    );
    CREATE INDEX logs_session_id ON deploytui.logs (session_id, id);
    CREATE TABLE deploytui.writers (
        session_id text PRIMARY KEY,
        username text NOT NULL,
        host text NOT NULL,
        pid integer NOT NULL,
        since text NOT NULL,
        backend_pid integer NOT NULL
    );
    """,
    # 2: where the session's record was last exported (its ExportedEvent), for `deploytui sessions`.
    """
    ALTER TABLE deploytui.sessions ADD COLUMN record jsonb;
    """,
]

VERSION = len(MIGRATIONS)
"""The schema version this deploytui writes."""


def schema_version(conn: psycopg.Connection) -> int:
    """The store's schema version (0: no deploytui schema yet)."""
    row = conn.execute("SELECT to_regclass('deploytui.schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    found = conn.execute("SELECT max(version) FROM deploytui.schema_version").fetchone()
    return int(found[0]) if found and found[0] is not None else 0


def ensure_schema(conn: psycopg.Connection, where: str) -> int:
    """Create or migrate the schema to VERSION (one process at a time); DeployError when the store's
    schema is newer than this deploytui. `conn` is in autocommit mode."""
    current = schema_version(conn)
    if current == VERSION:
        return current
    if current > VERSION:
        raise DeployError(_newer(current, where))
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS deploytui")
        conn.execute("CREATE TABLE IF NOT EXISTS deploytui.schema_version (version integer NOT NULL)")
        current = schema_version(conn)  # another process may have migrated while we waited
        if current > VERSION:
            raise DeployError(_newer(current, where))
        for version in range(current, VERSION):
            conn.execute(MIGRATIONS[version])  # our own constant DDL
            conn.execute("INSERT INTO deploytui.schema_version (version) VALUES (%s)", (version + 1,))
    return VERSION


def _newer(found: int, where: str) -> str:
    return (
        f"the store {where} has deploytui schema version {found}, newer than this deploytui knows"
        f" ({VERSION}): upgrade deploytui to use it"
    )

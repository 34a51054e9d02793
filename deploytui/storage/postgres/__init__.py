"""The PostgreSQL store: a team's sessions in one database (schema `deploytui`), followed live with
LISTEN/NOTIFY. Imports psycopg: import it only when a `--store postgresql://…` is given."""

from __future__ import annotations

from deploytui.storage.postgres.repository import (
    PgLiveSession,
    PostgresStore,
    channel,
    is_store_url,
    lock_key,
)
from deploytui.storage.postgres.schema import VERSION as SCHEMA_VERSION

__all__ = ["PostgresStore", "PgLiveSession", "SCHEMA_VERSION", "channel", "is_store_url", "lock_key"]

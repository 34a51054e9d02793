"""The file store: sessions as TOML checkpoints, hash-chained JSONL event logs and log files in a
sessions dir, on one machine (the embedded default)."""

from __future__ import annotations

from deploytui.storage.chain import FREE_TEXT_KEYS, DriftReport
from deploytui.storage.fs.atomic import (
    FILE_MODE,
    TomlTables,
    atomic_write_toml,
    fsync_dir,
    remove_stale_temps,
)
from deploytui.storage.fs.head import HeadRecord, read_head
from deploytui.storage.fs.journal import (
    GENESIS_HASH,
    EventLog,
    EventScan,
    Journal,
    event_line,
    line_hash,
    read_events,
    scan_events,
    verify_chain,
)
from deploytui.storage.fs.live import LiveSession
from deploytui.storage.fs.lock import (
    SessionLock,
    current_user,
    describe_holder,
)
from deploytui.storage.fs.paths import EVENTS_FILE, HEAD_FILE, LOGS_DIR
from deploytui.storage.fs.recovery import (
    Recovery,
)
from deploytui.storage.fs.repository import (
    SessionInfo,
    SessionStore,
    new_session_id,
    recover_hint,
    validate_session_id,
)

__all__ = [
    "DriftReport",
    "EVENTS_FILE",
    "EventLog",
    "EventScan",
    "FILE_MODE",
    "FREE_TEXT_KEYS",
    "GENESIS_HASH",
    "HEAD_FILE",
    "HeadRecord",
    "Journal",
    "LOGS_DIR",
    "LiveSession",
    "Recovery",
    "SessionInfo",
    "SessionLock",
    "SessionStore",
    "TomlTables",
    "atomic_write_toml",
    "current_user",
    "describe_holder",
    "event_line",
    "fsync_dir",
    "line_hash",
    "new_session_id",
    "read_events",
    "read_head",
    "recover_hint",
    "remove_stale_temps",
    "scan_events",
    "validate_session_id",
    "verify_chain",
]

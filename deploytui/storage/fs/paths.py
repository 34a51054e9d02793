"""Names inside a sessions dir (README.md, "Sessions on disk")."""

from __future__ import annotations

import re

EVENTS_FILE = "events.jsonl"
"""`<id>/events.jsonl`: the hash-chained event log."""

LOGS_DIR = "logs"
"""`<id>/logs/`: the full output of every run."""

UNSAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")
"""Characters a run id may not bring into a log file's name."""

HEAD_FILE = "head.json"
"""`<id>/head.json`: the head record, the count and hash of the last acknowledged event (rewritten in place
on every change; `storage/fs/head.py`)."""

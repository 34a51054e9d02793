"""`deploytui sessions`: the sessions in the sessions dir, newest first (text table or JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from deploytui.core.status import Status
from deploytui.services.sessions import open_store, store_location
from deploytui.storage.fs import SessionInfo

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
}


def run(args: argparse.Namespace) -> int:
    store = open_store(store_location(getattr(args, "store", None), args.sessions_dir))
    infos = store.list()
    out: TextIO = sys.stdout
    if getattr(args, "format", "text") == "json":
        json.dump({"sessions": [info.to_json() for info in infos]}, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        where = store.location.removeprefix("sessions dir ")
        out.write(render_table(infos, where))
    return 0


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


def render_table(infos: list[SessionInfo], where: str) -> str:
    if not infos:
        return f"no sessions in {where}\n"
    headers = ["ID", "STARTED", "UPDATED", "OPERATOR", "STATE", "CHECKLIST", "ITEMS"]
    rows: list[list[str]] = []
    for info in infos:
        if info.error is not None:
            rows.append([info.id, "-", "-", "-", "UNREADABLE", "-", info.error])
            continue
        rows.append(
            [
                info.id,
                _short_time(info.started),
                _short_time(info.updated),
                info.operator,
                _state(info),
                info.checklist_title or info.checklist,
                _counts_text(info),
            ]
        )
    rows = [[_clean(c) for c in row] for row in rows]
    # The last column is free-width; the others are padded to their widest cell.
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def _short_time(iso: str) -> str:
    """2026-11-25T09:15:00.123Z -> 2026-11-25 09:15:00Z (UTC, to the second)."""
    if len(iso) >= 19 and iso[10] == "T":
        return f"{iso[:10]} {iso[11:19]}Z"
    return iso or "-"

"""`deploytui sessions`: the sessions in the sessions dir, newest first (text table or JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from deploytui.services.exports import RecordFileState, record_file_state
from deploytui.services.sessions import ROW_HEADERS, open_store, session_row, store_location
from deploytui.storage.fs import SessionInfo

RECORD_HEADER = "RECORD"
"""The listing's last column: the record file exported from the session, and who signed it."""


def run(args: argparse.Namespace) -> int:
    store = open_store(store_location(getattr(args, "store", None), args.sessions_dir))
    infos = store.list()
    out: TextIO = sys.stdout
    if getattr(args, "format", "text") == "json":
        sessions = []
        for info in infos:
            data = info.to_json()
            record = _record_state(info)
            if record is not None:
                data["record"] = record.to_json()
            sessions.append(data)
        json.dump({"sessions": sessions}, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(render_table(infos, store.location))
    return 0


def render_table(infos: list[SessionInfo], where: str) -> str:
    if not infos:
        hint = (
            "(sessions are kept where deploytui ran; point elsewhere with --sessions-dir D"
            " or $DEPLOYTUI_SESSIONS, or use a team store with --store URL)\n"
            if where.startswith("sessions dir")
            else ""
        )
        return f"no sessions in the {where}\n{hint}"
    headers = [*ROW_HEADERS, RECORD_HEADER]
    rows = []
    for info in infos:
        record = _record_state(info)
        cell = record.text() if record is not None else "-"
        rows.append([*session_row(info), "".join(c if c.isprintable() else "?" for c in cell)])
    # The last column is free-width; the others are padded to their widest cell.
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def _record_state(info: SessionInfo) -> RecordFileState | None:
    return record_file_state(info.record) if info.record is not None and info.error is None else None

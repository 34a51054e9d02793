"""`deploytui recover SESSION`: keep what parses of a damaged session, so it can be opened again.

The event log is cut at its first bad line (garbled, truncated, out of order, or breaking the hash
chain), the session file is rebuilt from what remains, and the damaged files are kept beside them
(`events.jsonl.corrupt-<time>`, `<id>.toml.corrupt-<time>`). An intact session is left alone.
Exit 0 when the session is intact or was recovered; 2 when nothing could be recovered or it is open.
"""

from __future__ import annotations

import argparse
import sys

from deploytui.storage.fs import SessionStore


def run(args: argparse.Namespace) -> int:
    store = SessionStore(args.sessions_dir)
    report = store.recover(args.session)
    out = sys.stdout
    if report.intact:
        out.write(f"session {report.session_id} is intact: nothing to recover\n")
        return 0
    out.write(f"recovered session {report.session_id}: kept {report.kept_events} events")
    if report.dropped_lines:
        out.write(f", dropped {report.dropped_lines} line(s) from the first problem on")
    out.write(f"\nfirst problem: {report.problem}\n")
    for path in report.kept_aside:
        out.write(f"damaged file kept as {path}\n")
    out.write(f"open it with: deploytui --session {report.session_id}\n")
    return 0

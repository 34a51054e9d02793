"""`deploytui recover SESSION`: keep what parses of a damaged session, so it can be opened again.

The event log is cut at its first bad line (garbled, truncated, out of order, or breaking the hash
chain). The session file, when it parses, is a witness: a last event whose hash is not the head it
recorded is not the event it saw (an altered last line), and is dropped with what follows. The session
file is rebuilt from what remains, and the damaged files are kept beside them
(`events.jsonl.corrupt-<time>`, byte for byte, `<id>.toml.corrupt-<time>`). The output names every
dropped line and says why. An intact session is left alone.
Exit 0 when the session is intact or was recovered; 2 when nothing could be recovered or it is open.
"""

from __future__ import annotations

import argparse
import sys

from deploytui.services.sessions import open_store, store_location

SHOWN_DROPPED = 20
"""Dropped lines named one by one; the rest are counted (they are all in the log kept aside)."""


def run(args: argparse.Namespace) -> int:
    store = open_store(store_location(getattr(args, "store", None), args.sessions_dir))
    report = store.recover(args.session)
    out = sys.stdout
    if report.intact:
        out.write(f"session {report.session_id} is intact: nothing to recover\n")
        return 0
    out.write(f"recovered session {report.session_id}: kept {report.kept_events} events")
    if report.dropped_lines:
        out.write(f", dropped {report.dropped_lines} line(s)")
    out.write(f"\nfirst problem: {report.problem}\n")
    if report.reason:
        out.write(f"why: {report.reason}\n")
    for line in report.dropped[:SHOWN_DROPPED]:
        out.write(f"dropped {line}\n")
    if len(report.dropped) > SHOWN_DROPPED:
        more = len(report.dropped) - SHOWN_DROPPED
        out.write(f"dropped {more} more line(s) (all are in the damaged log kept aside)\n")
    for path in report.kept_aside:
        out.write(f"kept as it was: {path}\n")
    out.write(f"open it with: deploytui --session {report.session_id}\n")
    return 0

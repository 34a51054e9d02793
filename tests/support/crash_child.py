"""Child process for tests/integration/test_crash.py: applies changes to a session in a loop until it is
killed.

Usage: crash_child.py SESSIONS_DIR SESSION_ID

After each `LiveSession.apply` returns (the change is acknowledged), prints `SEQ TYPE ITEM` and flushes, so
the parent knows exactly which changes were promised to survive. Each action is chosen from the item's
current status so it is always valid, whatever state an earlier kill left behind.
"""

from __future__ import annotations

import sys

from deploytui.core.session import (
    AddNote,
    Change,
    Override,
    RunFinished,
    RunStarted,
    Session,
    Skip,
    Tick,
    Untick,
    encode,
)
from deploytui.core.status import Outcome, Status
from deploytui.storage.fs import SessionStore


def next_action(session: Session, n: int) -> Change:
    items = [i for i, s in session.items.items() if not s.rollback]
    item = items[n % len(items)]
    state = session.items[item]
    key = f"{item}#0"
    if n % 5 == 4:
        return AddNote(item, "crash", f"note {n}")
    status = state.status
    if status is Status.PENDING:
        return (
            Tick(item, "crash"),
            RunStarted(item, key, f"r{n}", kind="command"),
            Skip(item, "crash", f"reason {n}"),
        )[n % 3]
    if status in (Status.DONE, Status.SKIPPED, Status.OVERRIDDEN):
        return Untick(item, "crash")
    if status is Status.RUNNING:
        run_id = state.checks[key].run_id
        outcome = Outcome.passed("ok", evidence="x" * (n % 300)) if n % 2 else Outcome.failed(f"boom {n}")
        return RunFinished(item, key, run_id, outcome, log=f"logs/{run_id}.log")
    if status is Status.PASSED:
        return RunStarted(item, key, f"r{n}", kind="command")
    return Override(item, "crash", f"accepted {n}")  # failed, error, interrupted


def main() -> None:
    sessions_dir, session_id = sys.argv[1], sys.argv[2]
    live = SessionStore(sessions_dir).open(session_id)
    n = live.session.seq
    while True:
        event = encode(live.apply(next_action(live.session, n)))
        sys.stdout.write(f"{event['seq']} {event['type']} {event.get('item', '-')}\n")
        sys.stdout.flush()
        n += 1


if __name__ == "__main__":
    main()

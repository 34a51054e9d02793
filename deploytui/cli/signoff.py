"""`deploytui signoff SESSION --set LABEL=VALUE ... [--acknowledge-open]`: fill the sign-off and finish
the session without the app, with the rules of the form (services.signoff): the labels are the form's
own, Date and Time are filled as the form fills them, open items must be acknowledged, and the sign-off
records how many were and whether a reviewer must countersign (`[signoff] reviewers`)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from deploytui.core.errors import DeployError
from deploytui.core.text import clean_line
from deploytui.services import signoff
from deploytui.services.sessions import resolve_session, store_location

SHOWN_OPEN = 5
"""Open items named in the refusal (the rest are counted)."""


def run(args: argparse.Namespace) -> int:
    store, session_id = resolve_session(
        args.session, store_location(getattr(args, "store", None), args.sessions_dir)
    )
    if not store.exists(session_id):
        raise DeployError(f"no session {session_id} in {store.location}")
    session = store.load(session_id)
    checklist = signoff.checklist_of(session)
    reviewers = _reviewers(args, checklist)
    sets = signoff.parse_sets(checklist, args.set or [])
    operator = args.operator or os.environ.get("USER") or session.operator
    with store.open(session_id, checklist=checklist) as live:
        if live.session.finished:
            raise DeployError(f"session {session_id} is already finished ({live.session.result})")
        opened = signoff.open_items(live.session, checklist)
        if opened and not args.acknowledge_open:
            names = ", ".join(f"{o.id} ({o.status})" for o in opened[:SHOWN_OPEN])
            more = f" and {len(opened) - SHOWN_OPEN} more" if len(opened) > SHOWN_OPEN else ""
            raise DeployError(
                f"{len(opened)} item(s) are still open: {names}{more}; give --acknowledge-open to sign off "
                "with them as they are"
            )
        now = datetime.now(UTC).astimezone()
        fields = signoff.headless_fields(checklist, live.session, operator, now, sets)
        result = signoff.finish(live, checklist, fields, operator, acknowledged=True, reviewers=reviewers)
    bad = sum(1 for o in opened if o.status.is_bad)
    said = f"{result}, signed off by {clean_line(operator)}"
    if opened:
        said += f" with {bad} failed and {len(opened) - bad} open items acknowledged"
    sys.stdout.write(f"session {session_id}: {said}\n")
    for f in checklist.signoff:
        sys.stdout.write(f"  {clean_line(f.label)}: {clean_line(fields.get(f.key, '')) or '-'}\n")
    sys.stdout.write(f"export it with: deploytui export {session_id} -o record.md --sign KEY\n")
    return 0


def _reviewers(args: argparse.Namespace, checklist: object) -> int:
    """`[signoff] reviewers` of --config, else of ./deploytui.toml when there is one, else 1."""
    from deploytui.core.checklist import Checklist
    from deploytui.services.project import load_config

    path = args.config or ("deploytui.toml" if Path("deploytui.toml").is_file() else None)
    if path is None:
        return 1
    return load_config(path, checklist if isinstance(checklist, Checklist) else None).signoff_reviewers

"""`deploytui tick SESSION ITEM... [--note TEXT]`: mark manual items done without the app (a pipeline
that proved them another way), with the session's rules: an item whose check failed needs an override,
not a tick. Every item is checked before any is ticked."""

from __future__ import annotations

import argparse
import os
import sys

from deploytui.core.errors import DeployError
from deploytui.core.session import AddNote, Tick
from deploytui.services.sessions import resolve_session, store_location


def run(args: argparse.Namespace) -> int:
    store, session_id = resolve_session(
        args.session, store_location(getattr(args, "store", None), args.sessions_dir)
    )
    if not store.exists(session_id):
        raise DeployError(f"no session {session_id} in {store.location}")
    with store.open(session_id) as live:
        operator = args.operator or os.environ.get("USER") or live.session.operator
        for item in args.items:
            live.session.event_for(Tick(item, operator))  # refused before anything changes
        for item in dict.fromkeys(args.items):
            live.apply(Tick(item, operator))
            if args.note:
                live.apply(AddNote(item, operator, args.note))
            sys.stdout.write(f"ticked {item}\n")
    return 0

"""`deploytui skip SESSION ITEM --reason TEXT`: skip an item without the app; the reason is required
and recorded with who and when."""

from __future__ import annotations

import argparse
import os
import sys

from deploytui.core.errors import DeployError
from deploytui.core.session import Skip
from deploytui.services.sessions import resolve_session, store_location


def run(args: argparse.Namespace) -> int:
    store, session_id = resolve_session(
        args.session, store_location(getattr(args, "store", None), args.sessions_dir)
    )
    if not store.exists(session_id):
        raise DeployError(f"no session {session_id} in {store.location}")
    with store.open(session_id) as live:
        operator = args.operator or os.environ.get("USER") or live.session.operator
        live.apply(Skip(args.item, operator, args.reason))
    sys.stdout.write(f"skipped {args.item}\n")
    return 0

"""The bare `deploytui [CHECKLIST|CONFIG]` command: the interactive app (the only CLI path to textual)."""

from __future__ import annotations

import argparse
import sys

from deploytui.core.errors import DeployError
from deploytui.services.project import resolve
from deploytui.services.sessions import store_location


def run(args: argparse.Namespace) -> int:
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise DeployError("the interactive app needs a terminal; for CI use `deploytui check`")
    checklist, config = resolve(args.source, args.config)
    if args.read_only and not (args.session or args.resume):
        raise DeployError("--read-only needs --session ID or --resume")
    from deploytui.tui.app import make_app

    choice = "resume" if args.resume else "new" if args.new else "ask"
    app = make_app(
        checklist,
        config,
        store_location(getattr(args, "store", None), args.sessions_dir, config),
        session_id=args.session,
        choice=choice,
        operator=args.operator,
        theme=args.theme,
        read_only=args.read_only,
    )
    result = app.run()
    if app.error is not None:
        raise app.error
    return int(result) if isinstance(result, int) else 0

"""The bare `deploytui [CHECKLIST|CONFIG]` command: the interactive app.

The TUI face's own command handler. The CLI's dispatcher (`cli/main.py`) loads it by name, as it loads
every sub-command's module, so the CLI face never imports the TUI face and textual loads only here."""

from __future__ import annotations

import argparse
import os
import sys

from deploytui.core.errors import DeployError
from deploytui.services.project import resolve
from deploytui.services.sessions import store_location

WEB_DRIVER = "textual.drivers.web_driver:WebDriver"
"""The driver textual-serve sets in each tab's app process."""


def run(args: argparse.Namespace) -> int:
    # Under `deploytui serve` the terminal is a browser tab: textual-serve speaks to the app over pipes.
    served = os.environ.get("TEXTUAL_DRIVER") == WEB_DRIVER
    if not served and (not sys.stdin.isatty() or not sys.stdout.isatty()):
        raise DeployError("the interactive app needs a terminal; for CI use `deploytui check`")
    checklist, config = resolve(args.source, args.config)
    if args.read_only and args.new:
        raise DeployError("--read-only follows an existing session: it cannot start a new one")
    from deploytui.tui.app import make_app  # textual: only once the arguments and the checklist are good

    # --read-only without --session or --resume: the app lists the sessions and follows the one chosen.
    choice = "resume" if args.resume else "new" if args.new else "pick" if args.read_only else "ask"
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

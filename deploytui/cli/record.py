"""`deploytui export`, `sign` and `verify`: the record of a session (the work is in services.records)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from deploytui.core.errors import DeployError, LockedError
from deploytui.core.text import clean_line
from deploytui.services.exports import note_export
from deploytui.services.project import load_config
from deploytui.services.records import atomic_write_text, export_text, sign_record, verify_record
from deploytui.services.sessions import resolve_session, store_location


def run(args: argparse.Namespace) -> int:
    if args.command == "export":
        return _export(args)
    if args.command == "sign":
        return _sign(args)
    if args.command == "verify":
        return _verify(args)
    raise DeployError(f"unknown record command {args.command!r}")


def _export(args: argparse.Namespace) -> int:
    sessions_dir = store_location(
        getattr(args, "store", None), getattr(args, "sessions_dir", None) or "sessions"
    )
    redactor = load_config(args.config).redactor() if getattr(args, "config", None) else None
    if args.output and args.output != "-":
        target = Path(args.output)
        what = "signed as deployer" if args.sign else "unsigned"
        store, session_id = resolve_session(args.session, sessions_dir)
        if not store.exists(session_id):
            raise DeployError(f"no session {session_id} in {store.location}")
        try:
            live = store.open(session_id)
        except LockedError as exc:
            # Another process works in the session: the record is written, the session cannot say so.
            text = export_text(args.session, args.sign, sessions_dir=sessions_dir, redactor=redactor)
            atomic_write_text(target, text, overwrite=args.force)
            print(f"deploytui: wrote {target.resolve()} ({what})", file=sys.stderr)
            print(f"deploytui: not noted in the session ({exc.message})", file=sys.stderr)
            return 0
        with live:
            text = export_text(live, args.sign, redactor=redactor)
            atomic_write_text(target, text, overwrite=args.force)
            operator = os.environ.get("USER") or live.session.current_operator
            note_export(live, target, text, operator)
        print(f"deploytui: wrote {target.resolve()} ({what})", file=sys.stderr)
    else:
        text = export_text(args.session, args.sign, sessions_dir=sessions_dir, redactor=redactor)
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def _sign(args: argparse.Namespace) -> int:
    info = sign_record(args.record, args.key, args.role)
    print(
        f"deploytui: signed {args.record} as {info.role} ({clean_line(info.principal)}) with "
        f"{info.key_type} {info.fingerprint}",
        file=sys.stderr,
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    sessions_dir = store_location(
        getattr(args, "store", None), getattr(args, "sessions_dir", None) or "sessions"
    )
    redactor = None
    if getattr(args, "config", None):
        from deploytui.services.project import load_config

        redactor = load_config(args.config).redactor()
    report = verify_record(
        args.record, args.allowed_signers, getattr(args, "session", None), sessions_dir=sessions_dir,
        redactor=redactor,
    )
    for line in report.lines():
        print(clean_line(line))
    return 0 if report.ok else 1

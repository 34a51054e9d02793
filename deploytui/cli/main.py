"""Command-line entry point. Imports textual only for the TUI command."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from deploytui import __version__
from deploytui.core.errors import DeployError

COMMANDS = {
    "list": "deploytui.cli.list",
    "check": "deploytui.cli.check",
    "sessions": "deploytui.cli.sessions",
    "export": "deploytui.cli.record",
    "sign": "deploytui.cli.record",
    "verify": "deploytui.cli.record",
    "recover": "deploytui.cli.recover",
    "store": "deploytui.cli.store",
}
"""Sub-command -> module with `run(args) -> int` (the bare command starts the TUI)."""

TUI_MODULE = "deploytui.cli.tui"


def _sessions_default() -> str:
    return os.environ.get("DEPLOYTUI_SESSIONS", "sessions")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sessions-dir",
        metavar="D",
        default=argparse.SUPPRESS,
        help="where sessions are kept (default: ./sessions, or $DEPLOYTUI_SESSIONS)",
    )
    p.add_argument(
        "--store",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="keep sessions in PostgreSQL (postgresql://user@host/db) instead of the sessions dir"
        " (default: $DEPLOYTUI_STORE, or [store] url in deploytui.toml)",
    )


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        nargs="?",
        metavar="CHECKLIST|CONFIG",
        help="a checklist (.md) or a deploytui.toml; default: ./deploytui.toml if present,"
        " else the bundled checklist",
    )
    p.add_argument("--config", metavar="F", help="deploytui.toml with variables, secrets and check bindings")


_VALUE_OPTIONS = {"--config", "--sessions-dir", "--store", "--session", "--operator", "--theme"}


def _first_positional(argv: Sequence[str]) -> str | None:
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--":
            return None
        if arg.startswith("-"):
            skip = arg in _VALUE_OPTIONS
            continue
        return arg
    return None


def build_parser(with_commands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deploytui",
        description=(
            "Walk a production deployment checklist in the terminal. The checklist opens as a tree;\n"
            "machine-verifiable items are checked by real clients; every change is saved at once;\n"
            "the run is exported as a signed Markdown record."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "commands (each has --help):\n"
            "  deploytui list      print the checklist's nodes, ids, actions and bound checks\n"
            "  deploytui check     run the bound checks headless (CI): text, json or junit\n"
            "  deploytui sessions  list sessions, newest first\n"
            "  deploytui export    write the Markdown record of a session (optionally signed)\n"
            "  deploytui sign      sign or countersign a record with an SSH key\n"
            "  deploytui verify    verify a signed record against an allowed_signers file\n"
            "  deploytui recover   keep what parses of a damaged session (damaged files kept aside)\n"
            "  deploytui store     copy a session into a PostgreSQL store (push) or out of it (pull)\n"
            "\n"
            "Without a command, the interactive app opens CHECKLIST|CONFIG.\n"
            "Exit codes: 0 ok, 1 a check or a verification failed, 2 usage, config or input error."
        ),
    )
    parser.add_argument("--version", action="version", version=f"deploytui {__version__}")
    if with_commands:
        # An optional positional before the sub-command would take the command word itself
        # (`deploytui verify R` parsed as source=verify); each sub-command has its own source.
        parser.add_argument(
            "--config",
            metavar="F",
            help="deploytui.toml with variables, secrets and bindings",
        )
    else:
        _add_source(parser)
    _add_common(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--session", metavar="ID", help="open this session")
    group.add_argument(
        "--resume",
        action="store_true",
        help="resume the latest unfinished session of the checklist",
    )
    group.add_argument(
        "--new",
        action="store_true",
        help="start a new session even if an unfinished one exists",
    )
    parser.add_argument("--operator", metavar="NAME", help="who is running the deployment (default: $USER)")
    parser.add_argument("--theme", metavar="NAME", help="colour theme (built-in or from themes/)")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="open a session held by someone else read-only and follow it live",
    )

    parser.set_defaults(command=None)
    if not with_commands:
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "list",
        help="print the checklist's nodes and their ids",
        description="Print the nodes of a checklist with their stable ids, actions and bound checks.",
    )
    _add_source(p)
    _add_common(p)
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser(
        "check",
        help="run the bound checks headless (CI)",
        description="Run every check bound in deploytui.toml (never actions), record a session, and report. "
        "Exit 0 when all passed, 1 when any failed or could not run, 2 on bad input.",
    )
    _add_source(p)
    _add_common(p)
    p.add_argument("--only", nargs="+", metavar="ID", default=None, help="only these item or section ids")
    p.add_argument("--format", choices=["text", "json", "junit"], default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--session", metavar="ID", help="record into this existing session")
    p.add_argument("--operator", metavar="NAME", help="operator recorded in the session (default: $USER)")

    p = sub.add_parser(
        "sessions",
        help="list sessions, newest first",
        description="List the sessions in the sessions dir, newest first.",
    )
    _add_common(p)
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser(
        "export",
        help="write the Markdown record of a session",
        description="Render a session as a Markdown record, optionally signed with an SSH key.",
    )
    _add_common(p)
    p.add_argument("session", metavar="SESSION", help="session id (or path to its .toml)")
    p.add_argument("-o", "--output", metavar="FILE", help="record file (default: stdout)")
    p.add_argument(
        "--sign",
        metavar="KEY",
        help="sign as deployer with this SSH key (private key, or .pub held by ssh-agent)",
    )

    p = sub.add_parser(
        "sign",
        help="add a signature to a record",
        description="Sign a record (deployer) or countersign it (reviewer) with an SSH key.",
    )
    _add_common(p)
    p.add_argument("record", metavar="RECORD")
    p.add_argument(
        "--key",
        metavar="KEY",
        required=True,
        help="private key, or a .pub whose key is in ssh-agent",
    )
    p.add_argument("--role", choices=["deployer", "reviewer"], default="deployer")

    p = sub.add_parser(
        "verify",
        help="verify a signed record",
        description="Verify every signature of a record against an allowed_signers file.",
    )
    _add_common(p)
    p.add_argument("record", metavar="RECORD")
    p.add_argument("--allowed-signers", metavar="FILE", required=True)
    p.add_argument(
        "--session",
        metavar="DIR",
        help="also check the session's event chain and log files against the record",
    )

    p = sub.add_parser(
        "recover",
        help="keep what parses of a damaged session",
        description="Cut a damaged session's event log at its first bad line (garbled, truncated or "
        "breaking the hash chain), rebuild the session file from what remains, and keep the damaged "
        "files beside them (events.jsonl.corrupt-<time>, <id>.toml.corrupt-<time>). An intact session "
        "is left alone. Exit 0 when intact or recovered, 2 when nothing could be recovered.",
    )
    _add_common(p)
    p.add_argument("session", metavar="SESSION", help="session id")

    p = sub.add_parser(
        "store",
        help="copy sessions between the sessions dir and a PostgreSQL store",
        description="push: copy a session of the sessions dir into the --store database, verifying its"
        " chain; pull: copy a session of the store into the sessions dir. The events are copied byte"
        " for byte, so the record exported from either is the same. Exit 0 when copied, 2 otherwise.",
    )
    _add_common(p)
    p.add_argument("action", choices=["push", "pull"])
    p.add_argument("session", metavar="SESSION", help="session id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The app takes an optional CHECKLIST positional, sub-commands take their own: choose the
    # parser by the first positional word so `deploytui checklist.md` and `deploytui list` both work.
    parser = build_parser(with_commands=_first_positional(argv) in COMMANDS)
    args = parser.parse_args(argv)
    if not hasattr(args, "sessions_dir"):
        args.sessions_dir = _sessions_default()
    if not hasattr(args, "store"):
        args.store = None
    module_name = COMMANDS.get(args.command or "", TUI_MODULE)
    try:
        module = importlib.import_module(module_name)
        result: int = module.run(args)
        return result
    except DeployError as exc:
        print(f"deploytui: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("deploytui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `deploytui list | head`: the reader went away; nothing to report.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0

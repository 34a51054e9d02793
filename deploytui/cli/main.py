"""Command-line entry point. Imports textual only for the TUI command."""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from deploytui import __version__
from deploytui.core.errors import DeployError

TOKEN_ENV = "DEPLOYTUI_SERVE_TOKEN"

COMMANDS = {
    "list": "deploytui.cli.list",
    "check": "deploytui.cli.check",
    "sessions": "deploytui.cli.sessions",
    "export": "deploytui.cli.record",
    "sign": "deploytui.cli.record",
    "verify": "deploytui.cli.record",
    "run": "deploytui.cli.run",
    "recover": "deploytui.cli.recover",
    "serve": "deploytui.cli.serve",
    "signoff": "deploytui.cli.signoff",
    "tick": "deploytui.cli.tick",
    "skip": "deploytui.cli.skip",
    "store": "deploytui.cli.store",
}
"""Sub-command -> module with `run(args) -> int`."""

TUI_MODULE = "deploytui.tui.launch"
"""The bare command's module: the TUI face's own handler, loaded by name like the others."""

RUN_EXAMPLE = (
    "example:\n"
    "  deploytui run deploytui.toml --resume \\\n"
    "      deployment-steps/1-pre-deployment/create-backup-of-production-database:2\n"
    "  deploytui run deploytui.toml --yes --operator 'Carol Ops' \\\n"
    "      deployment-steps/1-pre-deployment/notify-team-of-deployment        # CI: no question asked\n"
    "ITEM:N runs only the item's N-th step (the order `deploytui list` shows: fenced blocks, then bindings)."
)


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


_VALUE_OPTIONS = {
    *("--config", "--sessions-dir", "--store", "--session", "--operator", "--theme"),
    *("--host", "--port", "--token"),  # serve
}


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
            "  deploytui run       run items' world-changing steps headless, after confirmation\n"
            "  deploytui sessions  list sessions, newest first\n"
            "  deploytui export    write the Markdown record of a session (optionally signed)\n"
            "  deploytui sign      sign or countersign a record with an SSH key\n"
            "  deploytui verify    verify a signed record against an allowed_signers file\n"
            "  deploytui recover   keep what parses of a damaged session (damaged files kept aside)\n"
            "  deploytui serve     a read-only browser view of live sessions, for reviewers\n"
            "  deploytui signoff   fill the sign-off and finish a session, headless\n"
            "  deploytui tick      mark manual items done, headless\n"
            "  deploytui skip      skip an item with a reason, headless\n"
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
        help="follow a session held by someone else, live, changing nothing (without --session or"
        " --resume: choose it from a list)",
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
    p.add_argument(
        "--format", choices=["text", "json"], default="text", help="text: an indented tree (default); json"
    )

    p = sub.add_parser(
        "check",
        help="run the bound checks headless (CI)",
        description="Run every check bound in deploytui.toml (never actions), record a session, and report. "
        "Exit 0 when all passed, 1 when any failed or could not run, 2 on bad input.",
    )
    _add_source(p)
    _add_common(p)
    p.add_argument("--only", nargs="+", metavar="ID", default=None, help="only these item or section ids")
    p.add_argument(
        "--format",
        choices=["text", "json", "junit"],
        default="text",
        help="text: a line per check and a summary (default); json: the report for a pipeline; junit: XML",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--session", metavar="ID", help="record into this existing session")
    p.add_argument(
        "--failed",
        metavar="SESSION",
        help="re-run only the checks of SESSION that failed, errored, were blocked, interrupted or flaky,"
        " recording into it",
    )
    p.add_argument("--operator", metavar="NAME", help="operator recorded in the session (default: $USER)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="resolve every binding and print what would run (secrets masked); run nothing, write no session",
    )

    p = sub.add_parser(
        "run",
        help="run items' world-changing steps (fenced blocks, actions, webhooks, dumps)",
        description=(
            "Run the world-changing steps of the given items (their fenced blocks, then their bound\n"
            "kind = \"action\", webhook and backup-dump checks), recorded in a session exactly as the app\n"
            "records them: each step is logged and fsynced before it starts, its output kept as it comes.\n"
            "\n"
            "Before each step it shows exactly what will run (the command after substitution, or the\n"
            "method, URL and body; secrets masked), the absolute working directory and the host, and asks\n"
            "on the terminal. --yes answers yes; with no terminal and no --yes it refuses (exit 2).\n"
            "Without --operator, a resumed session keeps its operator.\n"
            "\n"
            "Exit 0 when every step succeeded, 1 when any failed or was declined, 2 on bad input."
        ),
        epilog=RUN_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "words",
        nargs="+",
        metavar="[CONFIG] ITEM",
        help="optionally a deploytui.toml (or checklist .md), then the item ids to run",
    )
    p.add_argument("--config", metavar="F", help="deploytui.toml with variables, secrets and bindings")
    _add_common(p)
    p.add_argument("--yes", action="store_true", help="run without asking (CI)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--session", metavar="ID", help="record into this existing session")
    which.add_argument("--resume", action="store_true", help="record into the latest unfinished session")
    p.add_argument(
        "--operator", metavar="NAME", help="who runs them (default: the session's operator, else $USER)"
    )

    p = sub.add_parser(
        "sessions",
        help="list sessions, newest first",
        description="List the sessions in the sessions dir, newest first.",
    )
    _add_common(p)
    p.add_argument(
        "--format", choices=["text", "json"], default="text", help="text: a table (default); json: a document"
    )

    p = sub.add_parser(
        "export",
        help="write the Markdown record of a session",
        description="Render a session as a Markdown record, optionally signed with an SSH key.",
    )
    _add_common(p)
    p.add_argument("session", metavar="SESSION", help="session id (or path to its .toml)")
    p.add_argument("-o", "--output", metavar="FILE", help="record file (default: stdout)")
    p.add_argument(
        "--config",
        metavar="F",
        help="mask once more with this deploytui.toml's secrets (a session recorded under an older config)",
    )
    p.add_argument(
        "--sign",
        metavar="KEY",
        help="sign as deployer with this SSH key (private key, or .pub held by ssh-agent)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace FILE when it exists (without it, an existing record is never overwritten)",
    )

    p = sub.add_parser(
        "sign",
        help="add a signature to a record",
        description="Sign a record (deployer) or countersign it (reviewer) with an SSH key.",
    )
    _add_common(p)
    p.add_argument("record", metavar="RECORD", help="the record file to sign (changed in place)")
    p.add_argument(
        "--key",
        metavar="KEY",
        required=True,
        help="private key, or a .pub whose key is in ssh-agent",
    )
    p.add_argument(
        "--role",
        choices=["deployer", "reviewer"],
        default="deployer",
        help="sign as the sign-off's deployer (default) or its reviewer",
    )

    p = sub.add_parser(
        "verify",
        help="verify a signed record",
        description="Verify every signature of a record against an allowed_signers file.",
    )
    _add_common(p)
    p.add_argument("record", metavar="RECORD", help="the signed record file")
    p.add_argument(
        "--allowed-signers",
        metavar="FILE",
        required=True,
        help="OpenSSH allowed_signers: which key may sign as which principal (the sign-off's names)",
    )
    p.add_argument(
        "--session",
        metavar="DIR",
        help="also check the session's event chain and log files against the record, and the text "
        "byte for byte against the record the session renders again",
    )
    p.add_argument(
        "--config",
        metavar="F",
        help="with --session: mask the re-rendered evidence with this deploytui.toml's secrets, as an "
        "export from the app (or with --config) did",
    )

    p = sub.add_parser(
        "recover",
        help="keep what parses of a damaged session",
        description="Cut a damaged session's event log at its first bad line (garbled, truncated or "
        "breaking the hash chain), rebuild the session file from what remains, and keep the damaged "
        "files beside them (events.jsonl.corrupt-<time>, <id>.toml.corrupt-<time>, a damaged "
        "head.json.corrupt-<time>). An intact session "
        "is left alone. Exit 0 when intact or recovered, 2 when nothing could be recovered.",
    )
    _add_common(p)
    p.add_argument("session", metavar="SESSION", help="session id")

    p = sub.add_parser(
        "serve",
        help="a read-only browser view of live sessions, for reviewers",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve a read-only view of a live session to web browsers (textual-serve). Each browser\n"
        "tab runs its own `deploytui --read-only --session ID` follower: it shows every change the\n"
        "session's writer makes, and changes nothing. Without --session, a tab opens on a list of the\n"
        "sessions (the rows of `deploytui sessions`); the one chosen is followed.\n"
        "\n"
        "Sessions come from the store every command uses: --store URL, $DEPLOYTUI_STORE, [store] url,\n"
        "or the sessions dir. Give a PostgreSQL password in $DEPLOYTUI_STORE or ~/.pgpass rather than on\n"
        "the command line: the tabs get the URL in their environment, and show it masked.\n"
        "\n"
        "It binds 127.0.0.1: reviewers reach it through an ssh tunnel. Binding any other address needs\n"
        "--public, and then the page asks for an access token before it opens the view (--token T, or\n"
        f"${{{TOKEN_ENV}}}, or one generated and printed once). The page loads nothing from outside.",
        epilog="reach it from a reviewer's machine (then open http://127.0.0.1:8000/):\n"
        "  ssh -L 8000:127.0.0.1:8000 jumpbox\n"
        "\n"
        "example: deploytui serve --sessions-dir /srv/deploy/sessions --port 8000\n"
        "         DEPLOYTUI_STORE=postgresql://review@db.internal/deploytui deploytui serve",
    )
    p.add_argument(
        "source",
        nargs="?",
        metavar="CHECKLIST|CONFIG",
        help="the checklist the view shows the session with (default: the one the session recorded)",
    )
    p.add_argument("--config", metavar="F", help="deploytui.toml with variables, secrets and check bindings")
    _add_common(p)
    p.add_argument("--session", metavar="ID", help="serve this session only (default: a list to choose from)")
    p.add_argument("--host", metavar="ADDR", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", metavar="P", type=int, default=8000, help="port (default: 8000; 0: a free one)")
    p.add_argument(
        "--public",
        action="store_true",
        help="allow a non-loopback --host; every request then needs the access token",
    )
    p.add_argument("--token", metavar="T", help=f"the access token with --public (or ${TOKEN_ENV})")
    p.add_argument("--theme", metavar="NAME", help="colour theme of the view")

    p = sub.add_parser(
        "signoff",
        help="fill the sign-off and finish a session (CI)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fill the checklist's sign-off form and finish the session, as the app's form does: "
        "labels are the form's own (any case), Date and Time are filled in, and open or failed items must "
        "be acknowledged. The sign-off records how many were open, and whether a reviewer must "
        "countersign ([signoff] reviewers of --config, or of ./deploytui.toml).",
        epilog="example:\n"
        '  deploytui signoff 20261125T091500Z-4f21 --set "Deployed by=alice" --set "Reviewed by=bob" \\\n'
        '      --set "Result=Success" --acknowledge-open\n'
        "  deploytui export 20261125T091500Z-4f21 -o record.md --sign ~/.ssh/id_ed25519",
    )
    _add_common(p)
    p.add_argument("session", metavar="SESSION", help="session id (or path to its .toml)")
    p.add_argument("--set", metavar="LABEL=VALUE", action="append", help="a field of the form (repeat)")
    p.add_argument("--acknowledge-open", action="store_true",
                   help="sign off although items are still open or failed (the record says how many)")
    p.add_argument("--config", metavar="F", help="deploytui.toml whose [signoff] reviewers applies")
    p.add_argument("--operator", metavar="NAME", help="who signs off (default: $USER)")

    p = sub.add_parser(
        "tick",
        help="mark manual items done (CI)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Mark items done by hand, with the app's rules (an item whose check failed needs an "
        "override in the app, not a tick). Every item is checked before any is ticked.",
        epilog="example:\n"
        "  deploytui tick 20261125T091500Z-4f21 pre-deployment/backup-taken --note \"pg_dump job 4711\"",
    )
    _add_common(p)
    p.add_argument("session", metavar="SESSION", help="session id (or path to its .toml)")
    p.add_argument("items", nargs="+", metavar="ITEM", help="item ids (deploytui list prints them)")
    p.add_argument("--note", metavar="TEXT", help="a note added to each ticked item")
    p.add_argument("--operator", metavar="NAME", help="who ticks (default: $USER)")

    p = sub.add_parser(
        "skip",
        help="skip an item with a reason (CI)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Skip an item; the reason is required and recorded with who and when.",
        epilog="example:\n"
        '  deploytui skip 20261125T091500Z-4f21 post-deployment/load-test --reason "staging only"',
    )
    _add_common(p)
    p.add_argument("session", metavar="SESSION", help="session id (or path to its .toml)")
    p.add_argument("item", metavar="ITEM", help="item id (deploytui list prints it)")
    p.add_argument("--reason", metavar="TEXT", required=True, help="why it is skipped")
    p.add_argument("--operator", metavar="NAME", help="who skips (default: $USER)")

    p = sub.add_parser(
        "store",
        help="copy sessions between the sessions dir and a PostgreSQL store",
        description="push: copy a session of the sessions dir into the --store database, verifying its"
        " chain; pull: copy a session of the store into the sessions dir. The events are copied byte"
        " for byte, so the record exported from either is the same. Exit 0 when copied, 2 otherwise.",
    )
    _add_common(p)
    p.add_argument(
        "action",
        choices=["push", "pull"],
        help="push: a file session into the --store; pull: a session of the store into --sessions-dir",
    )
    p.add_argument("session", metavar="SESSION", help="session id")
    _add_examples(sub)
    return parser


EXAMPLES: dict[str, str] = {
    "list": "deploytui list deploytui.toml --format json",
    "check": "deploytui check deploytui.toml --only deployment-steps --format junit -o report.xml",
    "sessions": "deploytui sessions --sessions-dir /srv/deploy/sessions",
    "export": "deploytui export 20261201T212643Z-3fa2 -o record.md --sign ~/.ssh/id_ed25519",
    "sign": "deploytui sign record.md --key ~/.ssh/id_ed25519.pub --role reviewer",
    "verify": "deploytui verify record.md --allowed-signers allowed_signers --session 20261201T212643Z-3fa2",
    "recover": "deploytui recover 20261201T212643Z-3fa2",
    "store": "deploytui store push 20261201T212643Z-3fa2 --store postgresql://deploy@db.internal/deploytui",
}
"""One example per command, shown at the end of its --help."""


class _ExampleFormatter(argparse.HelpFormatter):
    """Wraps the description as usual but leaves the example whole (a wrapped command can't be pasted)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example:"):
            return indent + text
        return super()._fill_text(text, width, indent)


def _add_examples(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, parser in sub.choices.items():
        example = EXAMPLES.get(name)
        if example:
            parser.formatter_class = _ExampleFormatter
            parser.epilog = f"example: {example}"


def _skip_collection_at_exit() -> None:
    """At interpreter exit, freeze the heap before Python's final collections: they walk every object
    the client libraries made (~0.2 s after `deploytui check` here, every run, on the command's wall
    time) only to free memory the process returns anyway. Registered once; atexit handlers registered
    later (a library's flush, coverage) still run first."""
    global _EXIT_FREEZE_REGISTERED
    if not _EXIT_FREEZE_REGISTERED:
        _EXIT_FREEZE_REGISTERED = True
        atexit.register(gc.freeze)


_EXIT_FREEZE_REGISTERED = False


def main(argv: Sequence[str] | None = None) -> int:
    _skip_collection_at_exit()
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

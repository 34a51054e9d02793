"""A pipeline signs off without the app (issue 17): `check`, `tick`, `skip`, `signoff`, `export --sign`,
a reviewer's `sign`, then the README's stock-OpenSSH recipe and `deploytui verify --session`, each a
real `deploytui` child process in a shell with no terminal and no TUI."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from deploytui.core.record import parse_record, parse_record_data
from tests.cli.test_readme_recipe import readme_recipe
from tests.integration.test_signing import allowed_signers, make_key
from tests.support.cli_support import one_line_error, run_deploytui
from tests.unit.test_record import CHECKLIST

CONFIG = """\
checklist = "release.md"

[env]
files = [".env"]

[[check]]
item = "pre-flight/config-ready/database-url-set"
kind = "env"
names = ["DATABASE_URL"]
expect = { scheme = "postgresql" }

[[check]]
item = "pre-flight/config-ready/redis-url-set"
kind = "env"
names = ["REDIS_URL"]
expect = { scheme = "redis" }
"""


def _project(tmp: Path) -> str:
    """The test checklist with two env checks (one passes, one fails), run by `deploytui check`."""
    (tmp / "release.md").write_text(CHECKLIST)
    (tmp / "deploytui.toml").write_text(CONFIG)
    (tmp / ".env").write_text("DATABASE_URL=postgresql://db.internal/app\nREDIS_URL=http://cache:6379\n")
    proc = run_deploytui("check", "--format", "json", "--operator", "ci", "--sessions-dir", "sessions",
                         cwd=tmp)
    assert proc.returncode == 1, proc.stderr  # the redis check fails
    session_id: str = json.loads(proc.stdout)["session"]
    return session_id


def test_check_tick_skip_signoff_export_sign_verify_all_headless(tmp_path: Path) -> None:
    session = _project(tmp_path)
    cli = ["--sessions-dir", "sessions"]

    # Open items refuse the sign-off until they are acknowledged.
    refused = run_deploytui("signoff", session, *cli, "--set", "Deployed by=alice", "--set", "Result=Success",
                            cwd=tmp_path)
    assert "item(s) are still open" in one_line_error(refused) and "--acknowledge-open" in refused.stderr

    ticked = run_deploytui("tick", session, "pre-flight/tests-passing", "deploy/image-pushed", *cli,
                           "--note", "CI pipeline 4711", "--operator", "ci", cwd=tmp_path)
    assert ticked.returncode == 0, ticked.stderr
    skipped = run_deploytui("skip", session, "pre-flight/backups-verified", *cli, "--reason",
                            "nightly job verified by the DBA", "--operator", "ci", cwd=tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    bad = run_deploytui("tick", session, "pre-flight/config-ready/redis-url-set", *cli, cwd=tmp_path)
    assert "its check failed" in one_line_error(bad)
    unknown = run_deploytui("signoff", session, *cli, "--set", "Approved by=alice", cwd=tmp_path)
    assert 'no field \'Approved by\' ("Deployed by", "Reviewed by"' in one_line_error(unknown)

    done = run_deploytui("signoff", session, *cli, "--set", "deployed BY=alice", "--set", "Reviewed by=bob",
                         "--set", "result=success", "--acknowledge-open", "--operator", "alice",
                         cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # Success, with the failed redis item and the pending health check (and its parents) acknowledged.
    assert re.search(r"Success, signed off by alice with \d+ failed and \d+ open items acknowledged",
                     done.stdout), done.stdout
    assert "Result: Success" in done.stdout and "Deployed by: alice" in done.stdout

    alice, bob = make_key(tmp_path, "alice", "ed25519"), make_key(tmp_path, "bob", "ecdsa")
    allowed_signers(tmp_path / "allowed_signers", [("alice", alice.with_suffix(".pub")),
                                                   ("bob", bob.with_suffix(".pub"))])
    exported = run_deploytui("export", session, *cli, "-o", "record.md", "--sign", str(alice), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    again = run_deploytui("export", session, *cli, "-o", "record.md", cwd=tmp_path)
    assert "--force" in one_line_error(again)
    signed = run_deploytui("sign", "record.md", "--key", str(bob), "--role", "reviewer", cwd=tmp_path)
    assert signed.returncode == 0, signed.stderr

    body = parse_record((tmp_path / "record.md").read_text()).body
    data = parse_record_data(body)
    assert data.acknowledged_open > 0 and data.signed_off_by == "alice" and data.reviewers == 1
    # Failed: the redis item and "Config ready" above it; open: the pending health check.
    stated = f"signed off with 2 failed and {data.acknowledged_open - 2} open items acknowledged by alice"
    assert stated in body
    assert "CI pipeline 4711" in body and "nightly job verified by the DBA" in body

    recipe = subprocess.run(["bash", "-c", readme_recipe("alice", "bob")], cwd=tmp_path, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL)
    assert recipe.returncode == 0, recipe.stdout + recipe.stderr
    verified = run_deploytui("verify", "record.md", "--allowed-signers", "allowed_signers", "--session",
                             session, *cli, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "the text is exactly what the session renders" in verified.stdout


def test_signoff_fills_date_and_time_like_the_form(tmp_path: Path) -> None:
    (tmp_path / "release.md").write_text(CHECKLIST.replace(
        "- **Reviewed by:** _____________",
        "- **Reviewed by:** _____________\n- **Date:** _____________\n- **Time:** _____________"))
    (tmp_path / "deploytui.toml").write_text(CONFIG + "\n[signoff]\nreviewers = 0\n")
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://db.internal/app\nREDIS_URL=redis://cache:6379\n")
    proc = run_deploytui("check", "--format", "json", "--sessions-dir", "sessions", cwd=tmp_path)
    session = json.loads(proc.stdout)["session"]
    done = run_deploytui("signoff", session, "--sessions-dir", "sessions", "--set", "Deployed by=alice",
                         "--set", "Result=Rollback", "--acknowledge-open", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  Date: \d{4}-\d\d-\d\d$", done.stdout, re.M), done.stdout
    assert re.search(r"^  Time: \d\d:\d\d", done.stdout, re.M), done.stdout
    toml = (tmp_path / "sessions" / f"{session}.toml").read_text()
    assert 'result = "rollback"' in toml and "signoff_reviewers = 0" in toml  # from ./deploytui.toml
    again = run_deploytui("signoff", session, "--sessions-dir", "sessions", "--set", "Result=Success",
                          cwd=tmp_path)
    assert "already finished" in one_line_error(again)


def test_each_new_command_has_help_with_an_example(tmp_path: Path) -> None:
    for command in ("signoff", "tick", "skip"):
        proc = run_deploytui(command, "--help", cwd=tmp_path)
        assert proc.returncode == 0 and "example:" in proc.stdout and f"deploytui {command} " in proc.stdout

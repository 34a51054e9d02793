"""`deploytui export`, `sign` and `verify` from the command line: outputs, messages and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploytui.cli import main
from deploytui.core.record import canonical_problem, parse_record, parse_record_data
from tests.integration.test_signing import allowed_signers, make_key
from tests.unit.test_record import BuiltSession, build_session

ROOT = Path(__file__).resolve().parents[2]


CapSys = pytest.CaptureFixture[str]

README_RECIPE = """\
# The signed bytes: everything before the first signature marker line.
sed '/^<!-- deploytui-signature /,$d' record.md > body.md
# One signer's armored signature (role=deployer or role=reviewer).
awk '/^<!-- deploytui-signature v1 role=deployer -->$/ {f=1}
     f && /^-----BEGIN SSH SIGNATURE-----$/ {p=1}
     p {print}
     p && /^-----END SSH SIGNATURE-----$/ {exit}' record.md > deployer.sig
# The principal is the sign-off's "Deployed by" (or "Reviewed by" for the reviewer).
ssh-keygen -Y verify -f allowed_signers -I alice -n deploytui-record -s deployer.sig < body.md
"""
"""The manual check with stock tools, as the README gives it (a record saved with CRLF line ends needs
`sed -i 's/\\r$//' record.md` first)."""


def run_cli(capsys: CapSys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def export(capsys: CapSys, built: BuiltSession, *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "export", built.session_id, "--sessions-dir", str(built.store.dir), *extra)


def test_export_to_stdout_by_session_id(tmp_path: Path, capsys: CapSys) -> None:
    built = build_session(tmp_path)
    code, out, err = run_cli(capsys, "export", built.session_id, "--sessions-dir", str(built.store.dir))
    assert code == 0, err
    parsed = parse_record(out)
    assert parsed.trailers == [] and canonical_problem(parsed.body) is None
    assert parse_record_data(parsed.body).session == built.session_id


def test_export_sign_countersign_verify(tmp_path: Path, capsys: CapSys) -> None:
    """The whole flow: export signed by the deployer (SESSION as a path to its .toml), countersign,
    verify (with the session), each signature reported with role, principal, fingerprint and verdict."""
    built = build_session(tmp_path)
    alice, bob = make_key(tmp_path, "alice", "ed25519"), make_key(tmp_path, "bob", "rsa")
    allowed = allowed_signers(tmp_path / "allowed", [("alice", alice.with_suffix(".pub")),
                                                     ("bob", bob.with_suffix(".pub"))])
    record = tmp_path / "out" / "record.md"
    record.parent.mkdir()
    toml = built.store.toml_path(built.session_id)
    code, _, err = run_cli(capsys, "export", str(toml), "-o", str(record), "--sign", str(alice))
    assert code == 0, err
    assert f"wrote {record} (signed as deployer)" in err

    code, out, _ = run_cli(capsys, "verify", str(record), "--allowed-signers", str(allowed))
    assert code == 1 and "no reviewer signature" in out  # the sign-off names bob: not complete yet

    code, _, err = run_cli(capsys, "sign", str(record), "--key", str(bob), "--role", "reviewer")
    assert code == 0, err
    assert "as reviewer (bob)" in err

    code, out, _ = run_cli(capsys, "verify", str(record), "--allowed-signers", str(allowed),
                           "--session", str(built.session_dir))
    assert code == 0, out
    fingerprint = subprocess.run(["ssh-keygen", "-lf", str(bob.with_suffix(".pub"))], capture_output=True,
                                 text=True, check=True).stdout.split()[1]
    lines = out.splitlines()
    assert any(line.startswith("deployer") and '"alice"' in line and line.endswith("good") for line in lines)
    assert any(line.startswith("reviewer") and '"bob"' in line and fingerprint in line for line in lines)
    assert "event chain intact" in out and "3 log files match" in out

    # A second reviewer signature is refused; so is signing a record whose body was changed.
    code, _, err = run_cli(capsys, "sign", str(record), "--key", str(bob), "--role", "reviewer")
    assert code == 2 and "already has a reviewer signature" in err

    tampered = tmp_path / "tampered.md"
    text = record.read_text()
    tampered.write_text(text.replace("REDIS_URL scheme is http", "REDIS_URL scheme is fine", 1))
    code, out, _ = run_cli(capsys, "verify", str(tampered), "--allowed-signers", str(allowed))
    assert code == 1 and "BAD" in out and "verification FAILED" in out


def test_reviewer_refuses_to_countersign_a_changed_record(tmp_path: Path, capsys: CapSys) -> None:
    built = build_session(tmp_path)
    alice, bob = make_key(tmp_path, "alice", "ed25519"), make_key(tmp_path, "bob", "ecdsa")
    record = tmp_path / "record.md"
    assert export(capsys, built, "-o", str(record), "--sign", str(alice))[0] == 0
    record.write_text(record.read_text().replace("| Host | jump-1 |", "| Host | jump-2 |"))
    code, _, err = run_cli(capsys, "sign", str(record), "--key", str(bob), "--role", "reviewer")
    assert code == 2 and "deployer signature does not match the record's body" in err


def test_sign_refuses_a_non_canonical_body(tmp_path: Path, capsys: CapSys) -> None:
    built = build_session(tmp_path)
    record = tmp_path / "record.md"
    assert export(capsys, built, "-o", str(record))[0] == 0
    record.write_text(record.read_text().replace("## Summary\n", "## Summary  \n"))
    code, _, err = run_cli(capsys, "sign", str(record), "--key", str(make_key(tmp_path, "k", "ed25519")),
                           "--role", "deployer")
    assert code == 2 and "not canonical: trailing whitespace" in err and "record.md:" in err


def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: CapSys) -> None:
    built = build_session(tmp_path)
    record = tmp_path / "record.md"
    key = make_key(tmp_path, "alice", "ed25519")
    assert export(capsys, built, "-o", str(record), "--sign", str(key))[0] == 0
    cases = [
        (["export", "no-such-session", "--sessions-dir", str(built.store.dir)], "no session no-such-session"),
        (["export", built.session_id, "--sessions-dir", str(built.store.dir),
          "--sign", str(tmp_path / "nokey")], "no such key file"),
        (["verify", str(record), "--allowed-signers", str(tmp_path / "missing")], "allowed_signers"),
        (["verify", str(tmp_path / "nope.md"), "--allowed-signers", str(key.with_suffix(".pub"))],
         "no such record file"),
        (["verify", str(record), "--allowed-signers", str(key.with_suffix(".pub")),
          "--session", str(tmp_path)], "not a session directory"),
    ]
    for argv, message in cases:
        code, out, err = run_cli(capsys, *argv)
        assert code == 2, (argv, out, err)
        assert message in err and err.count("\n") == 1, err


def test_export_sign_with_encrypted_key_and_no_terminal(tmp_path: Path, capsys: CapSys) -> None:
    built = build_session(tmp_path)
    key = make_key(tmp_path, "locked", "ed25519", passphrase="secret phrase")
    code, out, err = export(capsys, built, "--sign", str(key))
    assert code == 2 and out == ""
    assert "protected by a passphrase" in err and "ssh-add" in err


def test_export_refuses_to_sign_without_a_named_deployer(tmp_path: Path, capsys: CapSys) -> None:
    built = build_session(tmp_path, deployer="")
    code, _, err = export(capsys, built, "--sign", str(make_key(tmp_path, "k", "ed25519")))
    assert code == 2 and "names no deployer" in err


def test_stock_ssh_keygen_verifies_an_exported_record(tmp_path: Path, capsys: CapSys) -> None:
    """The README recipe: cut the body (everything before the first marker line) and the armored
    signature out of the record, and stock `ssh-keygen -Y verify` accepts them."""
    built = build_session(tmp_path)
    key = make_key(tmp_path, "alice", "ecdsa")
    record = tmp_path / "record.md"
    assert export(capsys, built, "-o", str(record), "--sign", str(key))[0] == 0
    allowed_signers(tmp_path / "allowed_signers", [("alice", key.with_suffix(".pub"))])
    proc = subprocess.run(["sh", "-ec", README_RECIPE], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'Good "deploytui-record" signature for alice' in proc.stdout


def test_export_and_verify_never_import_textual(tmp_path: Path) -> None:
    """The record commands run on a box without a terminal UI stack loaded (fast, headless)."""
    code = (
        "import sys, deploytui.cli, deploytui.cli.record, deploytui.signing;"
        "assert 'textual' not in sys.modules, 'textual imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr


def test_unsigned_export_signed_later_by_both_roles(tmp_path: Path, capsys: CapSys) -> None:
    """Export now, sign later: `sign --role deployer` then `--role reviewer` give the same record as
    exporting with --sign (one body, one trailer per role)."""
    built = build_session(tmp_path)
    alice, bob = make_key(tmp_path, "alice", "ecdsa"), make_key(tmp_path, "bob", "ed25519")
    allowed = allowed_signers(tmp_path / "allowed", [("alice", alice.with_suffix(".pub")),
                                                     ("bob", bob.with_suffix(".pub"))])
    record = tmp_path / "record.md"
    assert export(capsys, built, "-o", str(record))[0] == 0
    body = record.read_text()
    assert run_cli(capsys, "sign", str(record), "--key", str(alice))[0] == 0  # role defaults to deployer
    assert run_cli(capsys, "sign", str(record), "--key", str(bob), "--role", "reviewer")[0] == 0
    parsed = parse_record(record.read_text())
    assert parsed.body == body and [t.role for t in parsed.trailers] == ["deployer", "reviewer"]
    code, out, _ = run_cli(capsys, "verify", str(record), "--allowed-signers", str(allowed))
    assert code == 0, out

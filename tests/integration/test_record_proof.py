"""Verification proves the text (issue 17): `verify --session` renders the record again and compares it
byte for byte; without a session, what the body states is checked against its signed data block; `sign`
refuses a body deploytui did not render; `export` never overwrites a record unless told to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploytui import signing
from deploytui.core.errors import DeployError
from deploytui.core.record import build_trailer, parse_record, parse_record_data
from deploytui.services.records import export_text, sign_record, verify_record, write_record
from tests.cli.test_cli_record import CapSys, run_cli
from tests.integration.test_signing import allowed_signers, make_key
from tests.unit.test_record import build_session

EVIDENCE = "applying migrations\nERROR: migration 0042 failed\nrolled back\n"


def _keys(tmp: Path) -> tuple[Path, Path, Path]:
    alice, bob = make_key(tmp, "alice", "ed25519"), make_key(tmp, "bob", "ecdsa")
    allowed = allowed_signers(tmp / "allowed_signers", [("alice", alice.with_suffix(".pub")),
                                                        ("bob", bob.with_suffix(".pub"))])
    return alice, bob, allowed


def _sign_raw(body: str, key: Path, role: str) -> str:
    """A trailer made straight with ssh-keygen: what someone bypassing `deploytui sign` could produce."""
    return build_trailer(role, signing.sign(body.encode(), key, interactive=False))


def test_an_edited_and_resigned_record_fails_verify_session_at_the_edited_line(tmp_path: Path) -> None:
    """The issue's reproduction: a Rollback whose log says the migration failed, exported, edited into a
    Success with a reassuring evidence line (the data block edited to match, so `sign` takes it), signed
    by both roles. Every signature is good, but the text is not what the session renders."""
    built = build_session(tmp_path, result="Rollback", hostile=EVIDENCE)
    alice, bob, allowed = _keys(tmp_path)
    body = export_text(built.session_id, sessions_dir=built.store.dir)
    assert "ERROR: migration 0042 failed" in body
    forged = body.replace("migration 0042 failed", "migration 0042 applied OK")
    record = tmp_path / "forged.md"
    record.write_text(forged)
    sign_record(record, alice, "deployer", interactive=False)
    sign_record(record, bob, "reviewer", interactive=False)

    plain = verify_record(record, allowed)
    assert plain.ok, plain.lines()  # the text agrees with its own data block: only the session can tell

    report = verify_record(record, allowed, built.session_dir)
    assert not report.ok
    line = next(n for n, text in enumerate(forged.split("\n"), start=1) if "applied OK" in text)
    problem = next(p for p in report.problems if "differs from what the session renders" in p)
    assert f"forged.md:{line}:" in problem
    assert "migration 0042 applied OK" in problem and "migration 0042 failed" in problem


def test_the_result_edited_in_text_and_data_fails_at_the_first_line_it_changes(tmp_path: Path) -> None:
    built = build_session(tmp_path, result="Rollback", hostile=EVIDENCE)
    alice, bob, allowed = _keys(tmp_path)
    body = export_text(built.session_id, sessions_dir=built.store.dir)
    forged = body.replace("Rollback", "Success").replace('"result": "rollback"', '"result": "success"')
    forged = forged.replace("rollback", "success")
    record = tmp_path / "forged.md"
    record.write_text(forged)
    sign_record(record, alice, "deployer", interactive=False)
    sign_record(record, bob, "reviewer", interactive=False)
    report = verify_record(record, allowed, built.session_dir)
    assert not report.ok
    first = next(n for n, (a, b) in enumerate(zip(forged.split("\n"), body.split("\n"), strict=False),
                                              start=1) if a != b)
    assert any(f"forged.md:{first}: the text differs" in p for p in report.problems), report.problems


def test_an_untouched_record_matches_the_session_byte_for_byte(tmp_path: Path) -> None:
    built = build_session(tmp_path)
    alice, bob, allowed = _keys(tmp_path)
    record = tmp_path / "record.md"
    write_record(built.session_id, record, alice, sessions_dir=built.store.dir, interactive=False)
    sign_record(record, bob, "reviewer", interactive=False)
    report = verify_record(record, allowed, built.session_dir)
    assert report.ok, report.lines()
    assert "the text is exactly what the session renders (every line matches)" in report.notes
    data = parse_record_data(parse_record(record.read_text()).body)
    assert data.exported_at and data.tool.startswith("deploytui ")


def test_text_that_contradicts_the_signed_data_fails_verify_without_a_session(tmp_path: Path) -> None:
    """The visible sign-off says "Reviewed by: bob" while the signed data says nobody: the deployer
    signs it by hand (deploytui sign would refuse), and verify fails, naming the line."""
    built = build_session(tmp_path, reviewer="")
    alice, _bob, allowed = _keys(tmp_path)
    body = export_text(built.session_id, sessions_dir=built.store.dir)
    forged = body.replace("- **Reviewed by:** — _(", "- **Reviewed by:** bob _(")
    assert forged != body
    record = tmp_path / "forged.md"
    record.write_text(forged + _sign_raw(forged, alice, "deployer"))
    report = verify_record(record, allowed)
    assert not report.ok
    line = next(n for n, text in enumerate(forged.split("\n"), start=1) if "Reviewed by:** bob" in text)
    prefix = f"{record}:{line}: the text disagrees with its signed data"
    assert any(p.startswith(prefix) for p in report.problems), report.problems


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        ("**Result: Success**", "**Result: Rollback**", "the result says"),
        ("| Result | Success |", "| Result | Rollback |", "the Result row says"),
        ("- [x] ☑️ **done** — Image pushed", "- [ ] ❌ **failed** — Image pushed", "is shown failed"),
        ("Measured: 7 of 7", "Measured: 6 of 7", "the result says"),
    ],
)
def test_sign_refuses_a_body_whose_text_disagrees_with_its_data(
    tmp_path: Path, old: str, new: str, what: str
) -> None:
    built = build_session(tmp_path)
    alice, _bob, _allowed = _keys(tmp_path)
    record = tmp_path / "record.md"
    body = export_text(built.session_id, sessions_dir=built.store.dir)
    assert old in body, old
    record.write_text(body.replace(old, new, 1))
    with pytest.raises(DeployError, match="not a record as deploytui renders it") as info:
        sign_record(record, alice, "deployer", interactive=False)
    assert what in str(info.value) and "record.md:" in str(info.value)


def test_sign_refuses_a_hand_written_body_and_an_old_format_record(tmp_path: Path, capsys: CapSys) -> None:
    key = make_key(tmp_path, "alice", "ed25519")
    record = tmp_path / "notes.md"
    record.write_text("# My deployment\n\nAll fine.\n")
    code, _, err = run_cli(capsys, "sign", str(record), "--key", str(key), "--role", "deployer")
    assert code == 2 and "does not end with its data block" in err and err.count("\n") == 1

    built = build_session(tmp_path)
    body = export_text(built.session_id, sessions_dir=built.store.dir)
    start = body.index("```json\n") + len("```json\n")
    end = body.rindex("\n```")
    data = json.loads(body[start:end])
    old = {"format": 1, "session": data["session"], "checklist_sha256": data["checklist_sha256"],
           "signers": data["signers"], "events": data["events"], "logs": data["logs"]}
    record.write_text(body[:start] + json.dumps(old, indent=2) + body[end:])
    code, _, err = run_cli(capsys, "sign", str(record), "--key", str(key), "--role", "deployer")
    assert code == 2 and "a format 1 record" in err and "export the session again" in err


def test_export_never_overwrites_a_record_unless_forced(tmp_path: Path, capsys: CapSys) -> None:
    built = build_session(tmp_path)
    record = tmp_path / "record.md"
    record.write_text("countersigned record\n")
    argv = ["export", built.session_id, "--sessions-dir", str(built.store.dir), "-o", str(record)]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and "exists" in err and "--force" in err and str(record) in err
    assert record.read_text() == "countersigned record\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".record")) == []  # no temp left
    code, _, err = run_cli(capsys, *argv, "--force")
    assert code == 0, err
    assert parse_record_data(record.read_text()).session == built.session_id


def test_verify_session_renders_with_the_redactor_the_export_used(tmp_path: Path) -> None:
    """An export that masked a secret in the evidence (the app passes its config's redactor) matches the
    session only when verify masks it the same way (`verify --config F`)."""
    from deploytui.core.redact import Redactor

    built = build_session(tmp_path, hostile="connecting with token tok-5up3r-s3cr3t\nok\n")
    alice, bob, allowed = _keys(tmp_path)
    redactor = Redactor({"API_TOKEN": "tok-5up3r-s3cr3t"})
    record = tmp_path / "record.md"
    write_record(built.session_id, record, alice, sessions_dir=built.store.dir, redactor=redactor,
                 interactive=False)
    sign_record(record, bob, "reviewer", interactive=False)
    assert "tok-5up3r-s3cr3t" not in record.read_text()
    assert verify_record(record, allowed, built.session_dir, redactor=redactor).ok
    report = verify_record(record, allowed, built.session_dir)
    assert not report.ok and any("connecting with token" in p for p in report.problems), report.problems


def test_output_that_looks_like_an_item_line_is_evidence_not_a_statement(tmp_path: Path) -> None:
    """A log that prints a line shaped like a record's item line (a hostile or just chatty target) is
    fenced evidence: the honest record still signs and verifies."""
    line = "- [x] ✅ **passed** — Everything is fine · `deploy/image-pushed`"
    built = build_session(tmp_path, hostile=f"{line}\n- [ ] ❌ **failed** — Nope · `no/such-item`\n")
    alice, bob, allowed = _keys(tmp_path)
    record = tmp_path / "record.md"
    write_record(built.session_id, record, alice, sessions_dir=built.store.dir, interactive=False)
    sign_record(record, bob, "reviewer", interactive=False)
    assert line in record.read_text()
    report = verify_record(record, allowed, built.session_dir)
    assert report.ok, report.lines()

"""Four eyes by default (issue 17): the deployer and the reviewer are two principals with two keys,
checked by `sign` and by `verify`; an empty reviewer fails unless the sign-off recorded
`[signoff] reviewers = 0`, and the README's stock-OpenSSH recipe applies the same rule; OpenSSH user
certificates (`cert-authority`, validity windows) verify, and an expired one does not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploytui import signing
from deploytui.core.checklist import load_checklist
from deploytui.core.errors import DeployError
from deploytui.core.record import build_trailer, parse_record
from deploytui.services import signoff
from deploytui.services.records import export_text, sign_record, verify_record, write_record
from deploytui.storage.fs import SessionStore
from tests.cli.test_readme_recipe import readme_recipe
from tests.integration.test_signing import allowed_signers, make_key
from tests.unit.test_record import CHECKLIST, build_session


def _signed_off(tmp: Path, *, reviewer: str, reviewers: int) -> tuple[SessionStore, str]:
    """A session finished through the sign-off service, as the form and `deploytui signoff` do."""
    path = tmp / "release.md"
    path.write_text(CHECKLIST)
    checklist = load_checklist(path)
    store = SessionStore(tmp / "sessions")
    with store.create(checklist, "alice", host="jump-1") as live:
        fields = {"deployed-by": "alice", "reviewed-by": reviewer, "result": "Success"}
        signoff.finish(live, checklist, fields, "alice", acknowledged=True, reviewers=reviewers)
        return store, live.id


def _recipe(directory: Path, record: Path, deployer: str, reviewer: str) -> subprocess.CompletedProcess[str]:
    for stale in directory.glob("*.sig"):
        stale.unlink()
    if record.parent != directory or record.name != "record.md":
        (directory / "record.md").write_bytes(record.read_bytes())
    return subprocess.run(["bash", "-c", readme_recipe(deployer, reviewer)], cwd=directory,
                          capture_output=True, text=True)


def test_self_review_is_refused_by_sign_and_fails_verify(tmp_path: Path) -> None:
    """Deployed by = Reviewed by = alice, signed twice with one key: `sign` refuses the countersignature,
    and a record countersigned by hand anyway fails `verify` (and the README recipe)."""
    built = build_session(tmp_path, reviewer="alice")
    alice = make_key(tmp_path, "alice", "ed25519")
    allowed = allowed_signers(tmp_path / "allowed_signers", [("alice", alice.with_suffix(".pub"))])
    record = tmp_path / "record.md"
    write_record(built.session_id, record, alice, sessions_dir=built.store.dir, interactive=False)
    with pytest.raises(DeployError, match="four eyes: the sign-off names 'alice' as deployer and as"):
        sign_record(record, alice, "reviewer", interactive=False)

    body = parse_record(record.read_text()).body
    record.write_text(record.read_text() + build_trailer(
        "reviewer", signing.sign(body.encode(), alice, interactive=False)))
    report = verify_record(record, allowed)
    assert not report.ok
    assert [s.good for s in report.signatures] == [True, True]  # each signature alone is good
    assert any("'alice' is both deployer and reviewer" in p for p in report.problems), report.problems
    assert any("signed with one key" in p for p in report.problems), report.problems
    proc = _recipe(tmp_path, record, "alice", "alice")
    assert proc.returncode != 0 and "REJECT" in proc.stdout


def test_one_key_for_two_principals_is_refused(tmp_path: Path) -> None:
    """bob countersigning with the key alice signed with: refused by `sign`, failed by `verify` and by
    the README recipe, even though allowed_signers lets that key act as both."""
    built = build_session(tmp_path)
    alice = make_key(tmp_path, "alice", "ed25519")
    pub = alice.with_suffix(".pub")
    allowed = allowed_signers(tmp_path / "allowed_signers", [("alice", pub), ("bob", pub)])
    record = tmp_path / "record.md"
    write_record(built.session_id, record, alice, sessions_dir=built.store.dir, interactive=False)
    with pytest.raises(DeployError, match="four eyes: this key .* already signed the record as deployer"):
        sign_record(record, alice, "reviewer", interactive=False)
    body = parse_record(record.read_text()).body
    record.write_text(record.read_text() + build_trailer(
        "reviewer", signing.sign(body.encode(), alice, interactive=False)))
    report = verify_record(record, allowed)
    assert not report.ok and any("signed with one key" in p for p in report.problems), report.lines()
    proc = _recipe(tmp_path, record, "alice", "bob")
    assert proc.returncode != 0 and "one key" in proc.stdout


def test_an_empty_reviewer_fails_verify_and_the_recipe_alike(tmp_path: Path) -> None:
    store, session_id = _signed_off(tmp_path, reviewer="", reviewers=1)
    alice = make_key(tmp_path, "alice", "ed25519")
    allowed = allowed_signers(tmp_path / "allowed_signers", [("alice", alice.with_suffix(".pub"))])
    record = tmp_path / "record.md"
    write_record(session_id, record, alice, sessions_dir=store.dir, interactive=False)
    report = verify_record(record, allowed, store.session_dir(session_id))
    assert not report.ok and report.signatures[0].good
    assert any("names no reviewer, and the record needs one" in p for p in report.problems), report.lines()
    proc = _recipe(tmp_path, record, "alice", "")
    assert proc.returncode != 0 and "does not declare reviewers = 0" in proc.stdout


def test_reviewers_0_is_recorded_and_both_verifiers_accept_one_signature(tmp_path: Path) -> None:
    store, session_id = _signed_off(tmp_path, reviewer="", reviewers=0)
    body = export_text(session_id, sessions_dir=store.dir)
    assert '  "reviewers": 0,' in body
    assert "no reviewer countersigns (the configuration declares `[signoff] reviewers = 0`)" in body
    alice = make_key(tmp_path, "alice", "ed25519")
    allowed = allowed_signers(tmp_path / "allowed_signers", [("alice", alice.with_suffix(".pub"))])
    record = tmp_path / "record.md"
    write_record(session_id, record, alice, sessions_dir=store.dir, interactive=False)
    report = verify_record(record, allowed, store.session_dir(session_id))
    assert report.ok, report.lines()
    proc = _recipe(tmp_path, record, "alice", "")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Good "deploytui-record" signature for alice' in proc.stdout


def test_reviewers_is_a_config_key_of_its_own(tmp_path: Path) -> None:
    from deploytui.services.project import load_config

    (tmp_path / "release.md").write_text(CHECKLIST)
    config = tmp_path / "deploytui.toml"
    config.write_text('checklist = "release.md"\n\n[signoff]\nreviewers = 0\n')
    assert load_config(config).signoff_reviewers == 0
    config.write_text('checklist = "release.md"\n\n[signoff]\nreviewers = 2\n')
    with pytest.raises(DeployError, match="signoff.reviewers must be 1") as info:
        load_config(config)
    assert info.value.line == 4


def _ca_and_certificate(tmp: Path, name: str, validity: str) -> tuple[Path, Path]:
    """A CA key and a user key with a certificate the CA issued for principal `name`."""
    ca = make_key(tmp, "ca", "ed25519") if not (tmp / "ca").exists() else tmp / "ca"
    key = make_key(tmp, f"{name}-{len(list(tmp.glob('*-cert.pub')))}", "ed25519")
    subprocess.run(["ssh-keygen", "-q", "-s", str(ca), "-I", f"{name}@example", "-n", name, "-V", validity,
                    str(key.with_suffix(".pub"))], check=True, stdin=subprocess.DEVNULL)
    return ca, key.with_name(key.name + "-cert.pub")


def test_a_ca_issued_certificate_signs_and_verifies_and_an_expired_one_fails(tmp_path: Path) -> None:
    built = build_session(tmp_path)
    ca, alice_cert = _ca_and_certificate(tmp_path, "alice", "-1d:+1d")
    _ca, bob_cert = _ca_and_certificate(tmp_path, "bob", "-1d:+1d")
    ca_pub = " ".join(ca.with_suffix(".pub").read_text().split()[:2])
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"alice,bob cert-authority {ca_pub}\n")
    record = tmp_path / "record.md"
    write_record(built.session_id, record, alice_cert, sessions_dir=built.store.dir, interactive=False)
    sign_record(record, bob_cert, "reviewer", interactive=False)
    report = verify_record(record, allowed, built.session_dir)
    assert report.ok, report.lines()
    assert all("-cert-v01@openssh.com" in s.key_type for s in report.signatures)

    # A certificate whose validity ended: ssh-keygen refuses it, so does verify.
    _ca, old_cert = _ca_and_certificate(tmp_path, "bob", "20200101:20200102")
    expired = tmp_path / "expired.md"
    write_record(built.session_id, expired, alice_cert, sessions_dir=built.store.dir, interactive=False)
    sign_record(expired, old_cert, "reviewer", interactive=False)
    report = verify_record(expired, allowed)
    assert not report.ok
    assert report.signatures[0].good and not report.signatures[1].good
    assert "expired" in report.signatures[1].message

    # An approval that expires: valid-before on the allowed_signers line.
    allowed.write_text(
        f'alice cert-authority {ca_pub}\nbob cert-authority,valid-before="20200101" {ca_pub}\n'
    )
    report = verify_record(record, allowed)
    assert not report.ok and report.signatures[0].good and not report.signatures[1].good

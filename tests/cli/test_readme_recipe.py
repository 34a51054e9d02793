"""The README's manual verification recipe, run verbatim (cut out of README.md) with stock bash and
ssh-keygen: it accepts a record signed by the deployer and countersigned by the reviewer, and rejects
one-character edits anywhere, including in the fences and markers around the signatures (which the
signatures themselves do not cover)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli_record import CapSys, run_cli
from tests.integration.test_signing import allowed_signers, make_key
from tests.unit.test_record import build_session

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def readme_recipe(deployer: str, reviewer: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Verifying by hand with stock OpenSSH") :]
    recipe = re.search(r"```sh\n(.*?)\n```\n", section, re.S)
    assert recipe is not None
    text = recipe.group(1)
    assert 'DEPLOYER="Alice Smith"; REVIEWER="Bob Jones"' in text
    names = f'DEPLOYER="{deployer}"; REVIEWER="{reviewer}"'
    return text.replace('DEPLOYER="Alice Smith"; REVIEWER="Bob Jones"', names)


@pytest.fixture
def signed_record(tmp_path: Path, capsys: CapSys) -> bytes:
    built = build_session(tmp_path)
    alice, bob = make_key(tmp_path, "alice", "ed25519"), make_key(tmp_path, "bob", "ecdsa")
    allowed_signers(tmp_path / "allowed_signers", [("alice", alice.with_suffix(".pub")),
                                                   ("bob", bob.with_suffix(".pub"))])
    record = tmp_path / "signed.md"
    code, _, err = run_cli(capsys, "export", built.session_id, "--sessions-dir", str(built.store.dir),
                           "-o", str(record), "--sign", str(alice))
    assert code == 0, err
    code, _, err = run_cli(capsys, "sign", str(record), "--key", str(bob), "--role", "reviewer")
    assert code == 0, err
    return record.read_bytes()


def run_recipe(directory: Path, record: bytes) -> subprocess.CompletedProcess[str]:
    for stale in directory.glob("*.sig"):
        stale.unlink()
    (directory / "record.md").write_bytes(record)
    return subprocess.run(["bash", "-c", readme_recipe("alice", "bob")], cwd=directory,
                          capture_output=True, text=True)


def test_the_readme_recipe_accepts_a_countersigned_record(tmp_path: Path, signed_record: bytes) -> None:
    proc = run_recipe(tmp_path, signed_record)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Good "deploytui-record" signature for alice' in proc.stdout
    assert 'Good "deploytui-record" signature for bob' in proc.stdout
    crlf = run_recipe(tmp_path, signed_record.replace(b"\n", b"\r\n"))
    assert crlf.returncode == 0, crlf.stdout + crlf.stderr


def test_the_readme_recipe_rejects_one_character_edits_around_and_inside_the_signatures(
    tmp_path: Path, signed_record: bytes
) -> None:
    start = signed_record.index(b"<!-- deploytui-signature")
    # Every byte of the markers, fences and armor lines; every 23rd of the base64 (any change there
    # breaks the signature itself); 10 places in the body.
    trailer = []
    offset = start
    for line in signed_record[start:].splitlines(keepends=True):
        base64 = re.fullmatch(rb"[A-Za-z0-9+/=]+\n", line) is not None
        trailer += range(offset, offset + len(line), 23 if base64 else 1)
        offset += len(line)
    body = range(0, start, max(1, start // 10))
    accepted = []
    for pos in [*body, *trailer]:
        edited = bytearray(signed_record)
        edited[pos] = ord("x") if edited[pos] != ord("x") else ord("y")
        if run_recipe(tmp_path, bytes(edited)).returncode == 0:
            accepted.append((pos, signed_record[max(start, pos - 12) : pos + 4]))
    assert accepted == []
    assert run_recipe(tmp_path, signed_record + b"appended\n").returncode != 0

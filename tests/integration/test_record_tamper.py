"""A signed record fails verification after any change: one byte anywhere, appended text, an injected
marker, a foreign key; and with --session, an edited event or log. CRLF line ends still verify."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploytui.core.errors import DeployError
from deploytui.core.record import build_trailer, parse_record
from deploytui.services.records import sign_record, verify_record, write_record
from tests.integration.test_signing import allowed_signers, make_key
from tests.unit.test_record import build_session

POSITIONS = 600
"""Single-byte changes tried (>= 500 required), spread over the whole body and its key fields."""


@dataclass
class Signed:
    record: Path
    allowed: Path
    session_dir: Path
    alice: Path
    bob: Path
    mallory: Path


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    """A real session's record, signed by the deployer (ed25519) and countersigned by the reviewer (ECDSA)."""
    tmp = tmp_path_factory.mktemp("tamper")
    built = build_session(tmp)
    alice = make_key(tmp, "alice", "ed25519")
    bob = make_key(tmp, "bob", "ecdsa")
    mallory = make_key(tmp, "mallory", "rsa")
    record = tmp / "record.md"
    write_record(built.session_id, record, alice, sessions_dir=built.store.dir, interactive=False)
    sign_record(record, bob, "reviewer", interactive=False)
    allowed = allowed_signers(tmp / "allowed_signers", [("alice", alice.with_suffix(".pub")),
                                                        ("bob", bob.with_suffix(".pub"))])
    return Signed(record, allowed, built.session_dir, alice, bob, mallory)


def _without(text: str, role: str) -> str:
    """The record with one signer's trailer removed."""
    parsed = parse_record(text)
    return parsed.body + "".join(build_trailer(t.role, t.armor) for t in parsed.trailers if t.role != role)


def _variant(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def test_untouched_record_verifies(signed: Signed) -> None:
    report = verify_record(signed.record, signed.allowed, signed.session_dir)
    assert report.ok, report.lines()
    assert [(s.role, s.principal, s.good) for s in report.signatures] == [("deployer", "alice", True),
                                                                        ("reviewer", "bob", True)]
    assert report.signatures[1].key_type == "ecdsa-sha2-nistp256"


def _replacement(byte: int, n: int) -> int:
    """A different byte: mostly a plausible edit (digit for digit, letter for letter), some whitespace."""
    special = (0x20, 0x0A, 0x09, 0x0D)
    if n % 23 == 0 and byte not in special:
        return special[(n // 23) % len(special)]
    if 0x30 <= byte <= 0x39:
        return 0x30 + (byte - 0x30 + 1 + n % 8) % 10
    if 0x61 <= byte <= 0x7A:
        return 0x61 + (byte - 0x61 + 1 + n % 24) % 26
    if 0x41 <= byte <= 0x5A:
        return byte + 0x20
    if byte < 0x80:
        return 0x78 if byte != 0x78 else 0x79
    return byte ^ 0x01


def _positions(body: bytes) -> list[int]:
    """Every status word, name, timestamp, hash, evidence line and the data block, then evenly spread."""
    text = body.decode("utf-8")
    wanted: set[int] = set()
    patterns = [r"\b(passed|failed|done|skipped|overridden|pending)\b", r"\b(alice|bob|carol)\b",
                r"\d{4}-\d\d-\d\dT[\d:.]+Z", r"\b[0-9a-f]{64}\b", r"GET /health -> 200 \(\d+\)",
                r"Forged heading", r"deploytui-signature", r"REDIS_URL scheme is http", r'"signers"',
                r"Result: \w+", r"\| Host \| [\w-]+"]
    for pattern in patterns:
        for m in re.finditer(pattern, text):
            start = len(text[: m.start()].encode("utf-8"))
            end = len(text[: m.end()].encode("utf-8"))
            wanted.update({start, (start + end) // 2, end - 1})
    step = max(1, len(body) // (POSITIONS - len(wanted) if POSITIONS > len(wanted) else 1))
    wanted.update(range(0, len(body), step))
    return sorted(p for p in wanted if p < len(body))[: max(POSITIONS, 500)]


def test_every_single_byte_change_in_the_body_fails(signed: Signed, tmp_path: Path) -> None:
    """Changing any one byte of the signed body (status words, names, times, hashes, evidence, data)
    makes verification fail: the bytes are signed exactly, nothing is normalised away but CRLF."""
    original = signed.record.read_bytes()
    body = parse_record(original.decode()).body_bytes
    positions = _positions(body)
    assert len(positions) >= 500

    def check(n_pos: tuple[int, int]) -> tuple[int, bool, str]:
        n, pos = n_pos
        changed = bytearray(original)
        changed[pos] = _replacement(changed[pos], n)
        if bytes(changed) == original:
            return pos, False, "unchanged"
        path = _variant(tmp_path, f"v{pos}.md", bytes(changed))
        report = verify_record(path, signed.allowed)
        path.unlink()
        return pos, report.ok, " | ".join(report.lines())

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(check, enumerate(positions)))
    elapsed = time.monotonic() - started
    passed = [(pos, body[max(0, pos - 20): pos + 20], why) for pos, ok, why in results if ok]
    assert passed == []
    assert elapsed < 60


def test_text_after_the_last_signature_fails(signed: Signed, tmp_path: Path) -> None:
    for extra in (b"Approved.\n", b"\n", b"<!-- note -->\n"):
        report = verify_record(_variant(tmp_path, "a.md", signed.record.read_bytes() + extra), signed.allowed)
        assert not report.ok and "text after the last signature" in " ".join(report.problems)


def test_injected_marker_in_the_body_fails(signed: Signed, tmp_path: Path) -> None:
    """A marker pasted into the body (with a copy of a real trailer after it) does not pass as a signature."""
    text = signed.record.read_text()
    body = parse_record(text).body
    trailers = text[len(body):]
    first_trailer = _without(text, "reviewer")[len(body):]
    half = body.index("## Sign-off")
    forged = body[:half] + first_trailer + body[half:] + trailers
    report = verify_record(_variant(tmp_path, "m.md", forged.encode()), signed.allowed)
    assert not report.ok
    # Even a second copy of a trailer after the real ones is refused, not ignored.
    doubled = text + first_trailer
    report = verify_record(_variant(tmp_path, "d.md", doubled.encode()), signed.allowed)
    assert not report.ok and "second deployer signature" in " ".join(report.problems)


def test_signature_by_a_key_not_in_allowed_signers_fails(signed: Signed, tmp_path: Path) -> None:
    """Re-signing the same body with a stranger's key as reviewer: the signature is valid but not allowed."""
    without_reviewer = _without(signed.record.read_text(), "reviewer")
    path = _variant(tmp_path, "r.md", without_reviewer.encode())
    sign_record(path, signed.mallory, "reviewer", interactive=False)
    report = verify_record(path, signed.allowed)
    assert not report.ok
    reviewer = report.signatures[1]
    assert reviewer.role == "reviewer" and not reviewer.good and reviewer.key_type == "ssh-rsa"
    # alice's key cannot countersign what it signed as deployer (four eyes).
    path = _variant(tmp_path, "r2.md", without_reviewer.encode())
    with pytest.raises(DeployError, match="four eyes: this key"):
        sign_record(path, signed.alice, "reviewer", interactive=False)


def test_crlf_line_ends_still_verify(signed: Signed, tmp_path: Path) -> None:
    crlf = signed.record.read_bytes().replace(b"\n", b"\r\n")
    report = verify_record(_variant(tmp_path, "crlf.md", crlf), signed.allowed, signed.session_dir)
    assert report.ok, report.lines()


def test_edited_middle_event_is_detected_with_session(signed: Signed, tmp_path: Path) -> None:
    """Rewriting an event in the middle of events.jsonl (even re-chaining the next line's prev would
    need every later hash) fails --session verification, naming the line."""
    import shutil

    copy = tmp_path / signed.session_dir.name
    shutil.copytree(signed.session_dir, copy)
    events = copy / "events.jsonl"
    lines = events.read_bytes().split(b"\n")
    middle = len(lines) // 2
    event = json.loads(lines[middle])
    event["by"] = "mallory"
    lines[middle] = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
    events.write_bytes(b"\n".join(lines))
    report = verify_record(signed.record, signed.allowed, copy)
    assert not report.ok
    assert any("hash chain broken" in p and f":{middle + 2}" in p for p in report.problems), report.problems
    assert report.signatures and all(s.good for s in report.signatures)  # the record itself is intact


def test_edited_or_missing_log_is_detected_with_session(signed: Signed, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / signed.session_dir.name
    shutil.copytree(signed.session_dir, copy)
    (copy / "logs" / "run-db.log").write_text("checking env\nOK\n")
    (copy / "logs" / "run-health.log").unlink()
    report = verify_record(signed.record, signed.allowed, copy)
    assert not report.ok
    problems = " ".join(report.problems)
    assert "logs/run-db.log: sha256" in problems and "logs/run-health.log: missing" in problems


def test_later_events_are_noted_not_failed(signed: Signed, tmp_path: Path) -> None:
    """The record covers the chain up to its head; a session that went on afterwards still verifies."""
    import shutil

    from deploytui.storage.fs import line_hash

    copy = tmp_path / signed.session_dir.name
    shutil.copytree(signed.session_dir, copy)
    events = copy / "events.jsonl"
    raw = events.read_bytes()
    last = raw.rstrip(b"\n").split(b"\n")[-1]
    seq = json.loads(last)["seq"] + 1
    extra = {"seq": seq, "type": "note", "at": "2026-11-25T12:00:00.000Z", "by": "alice", "item": "x",
             "text": "later", "prev": line_hash(last)}
    events.write_bytes(raw + json.dumps(extra, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    report = verify_record(signed.record, signed.allowed, copy)
    assert report.ok, report.lines()
    assert any("1 later events" in n for n in report.notes)


def test_unsigned_record_does_not_verify(signed: Signed, tmp_path: Path) -> None:
    body = parse_record(signed.record.read_text()).body
    report = verify_record(_variant(tmp_path, "u.md", body.encode()), signed.allowed)
    assert not report.ok and "not signed" in " ".join(report.problems)


def test_missing_countersignature_fails_but_shows_the_deployer_good(signed: Signed, tmp_path: Path) -> None:
    """The sign-off names a reviewer: until they countersign, the record is not fully verified."""
    text = _without(signed.record.read_text(), "reviewer")
    report = verify_record(_variant(tmp_path, "half.md", text.encode()), signed.allowed)
    assert not report.ok
    assert [s.good for s in report.signatures] == [True]
    assert "no reviewer signature (the sign-off names 'bob')" in report.problems

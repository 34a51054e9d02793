"""Where a session's record went: recorded when it is written, read back for `deploytui sessions`.

A record written to a file (`deploytui export -o FILE`, the app's sign-off screen) is recorded in its
session as a `RecordExported` change (event `exported`: the file's absolute path and the sha256 of its
body), through the same change path as every other change, so both stores know it. A finished session
takes this change too: it says where the record is, it changes no status.

`record_file_state(record)` looks at that file now: still there, the same body, and which roles signed it
(the countersignature is added to the file later, by `deploytui sign`), each signature checked against
the body with `ssh-keygen -Y check-novalidate` (whose key it is, `deploytui verify` decides).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from deploytui import signing
from deploytui.core.errors import DeployError
from deploytui.core.record import ROLES, decode_record, parse_record, parse_record_data
from deploytui.core.session import ExportedRecord, RecordExported
from deploytui.storage.base import LiveSession

RECORD_MAX_BYTES = 64 * 1024 * 1024
"""A record file larger than this is not read by the listing (a record is Markdown text)."""


def note_export(live: LiveSession, target: Path, text: str, by: str) -> None:
    """Record in the session that its record `text` was written to `target` (signed as deployer when
    the text carries that trailer). DeployError when the session refuses."""
    parsed = parse_record(text, target)
    live.apply(
        RecordExported(
            str(target.resolve()),
            hashlib.sha256(parsed.body_bytes).hexdigest(),
            by,
            signed=parsed.trailer("deployer") is not None,
        )
    )


@dataclass(frozen=True)
class SignatureState:
    role: str
    principal: str
    """Who the record's sign-off names for the role."""
    fingerprint: str
    matches: bool
    """The signature is a good signature of the record's body (ssh-keygen -Y check-novalidate)."""

    def to_json(self) -> dict[str, object]:
        return {
            "role": self.role,
            "principal": self.principal,
            "fingerprint": self.fingerprint,
            "matches_body": self.matches,
        }


@dataclass(frozen=True)
class RecordFileState:
    """A session's exported record file as it is now."""

    path: str
    state: str
    """"signed" (every signature matches the body), "unsigned", "bad signature", "changed" (its body is
    not the exported one), "missing" or "unreadable"."""
    signatures: list[SignatureState] = field(default_factory=list)
    problem: str = ""

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "path": self.path,
            "state": self.state,
            "signatures": [s.to_json() for s in self.signatures],
        }
        if self.problem:
            data["problem"] = self.problem
        return data

    def text(self) -> str:
        """The listing's cell: the path and, in brackets, signed by whom (or what is wrong)."""
        if self.state in ("signed", "bad signature"):
            names = ", ".join(
                f"{s.role} {s.principal or '?'}" + ("" if s.matches else " (does not match)")
                for s in self.signatures
            )
            what = f"signed: {names}"
        else:
            what = self.state
        return f"{self.path} ({what})"


def record_file_state(record: ExportedRecord) -> RecordFileState:
    """What the file an ExportedEvent names holds now."""
    path = Path(record.path)
    try:
        if path.stat().st_size > RECORD_MAX_BYTES:
            return RecordFileState(record.path, "unreadable", problem="larger than a record")
        text = decode_record(path.read_bytes(), path)
    except FileNotFoundError:
        return RecordFileState(record.path, "missing")
    except OSError as exc:
        return RecordFileState(record.path, "unreadable", problem=exc.strerror or str(exc))
    except DeployError as exc:
        return RecordFileState(record.path, "unreadable", problem=exc.message)
    try:
        parsed = parse_record(text, path)
        data = parse_record_data(parsed.body, path)
    except DeployError as exc:
        return RecordFileState(record.path, "unreadable", problem=exc.message)
    if hashlib.sha256(parsed.body_bytes).hexdigest() != record.body_sha256:
        return RecordFileState(record.path, "changed", problem="its body is not the one exported")
    signatures = []
    for role in ROLES:
        trailer = parsed.trailer(role)
        if trailer is None:
            continue
        try:
            fingerprint = signing.parse_sshsig(trailer.armor).key_fingerprint
        except ValueError:
            fingerprint = ""
        verdict = signing.check_novalidate(parsed.body_bytes, trailer.armor)
        signatures.append(SignatureState(role, data.signers.get(role, ""), fingerprint, verdict.good))
    if not signatures:
        return RecordFileState(record.path, "unsigned")
    state = "signed" if all(s.matches for s in signatures) else "bad signature"
    return RecordFileState(record.path, state, signatures)

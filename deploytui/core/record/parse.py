"""The record file as bytes: canonical form, signature trailers, and the signed data block.

The layout is in `render.py`'s docstring (and README.md, "The sign-off and the record"). Pure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploytui.core.errors import DeployError
from deploytui.core.text import (
    ARMOR_BEGIN,
    ARMOR_END,
    escape_marker_line,
    is_marker_like,
)

if TYPE_CHECKING:
    pass

RECORD_FORMAT = 2
"""Version of the record layout and of its data block (2: the data block holds every fact the text
states, and the export time, so the text can be verified; 1 is refused with a message)."""

SIGNATURE_FORMAT = 1
"""Version of the signature trailer (`<!-- deploytui-signature v1 … -->`): unchanged by format 2."""

ROLES = ("deployer", "reviewer")
"""Who signs a record, in signing order: the deployer signs at export, the reviewer countersigns."""

NAMESPACE = "deploytui-record"
"""SSHSIG namespace of record signatures: a signature made for another purpose (git, files) never verifies."""

_MARKER_RE = re.compile(r"^<!-- deploytui-signature v(\d+) role=([a-z]+) -->$")
_BASE64_LINE_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_JSON_ESCAPE_RE = re.compile("[`\x7f-\x9f\u2028\u2029]")
DATA_FENCE_OPEN = "```json"
DATA_HEADING = "## Record data"


class RecordFormatError(DeployError):
    """A record whose structure is wrong: not UTF-8, body not canonical, a malformed or duplicate trailer,
    text after the last trailer. For `verify` this is a verification failure, for `sign` bad input."""


def _split_keep(text: str) -> list[str]:
    return text.split("\n")


def canonicalise(text: str) -> str:
    """The canonical form of a record body (see module docstring). Idempotent."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text)
    lines = [escape_marker_line(line.rstrip()) for line in _split_keep(text)]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def canonical_problem(body: str) -> tuple[int, str] | None:
    """Where and how `body` differs from its canonical form (1-based line, what), or None when canonical."""
    lines = _split_keep(body)
    for index, line in enumerate(lines, start=1):
        if index == len(lines):
            break  # the text after the final LF: must be empty, checked below
        m = _CONTROL_RE.search(line)
        if m:
            return index, f"control character U+{ord(m.group(0)):04X}"
        if line != line.rstrip():
            return index, "trailing whitespace"
        if is_marker_like(line):
            return index, "a line that starts like a signature marker"
    if not body:
        return 1, "empty body"
    if lines[-1] != "":
        return len(lines), "no final line feed"
    if len(lines) >= 2 and lines[-2] == "":
        return len(lines) - 1, "empty lines at the end"
    return None


@dataclass(frozen=True)
class Trailer:
    """One signature trailer: the signer's role and the armored SSHSIG, as ssh-keygen writes it."""

    role: str
    armor: str
    line: int
    """1-based line of the marker in the record file."""


@dataclass(frozen=True)
class ParsedRecord:
    body: str
    """The signed text: everything before the first marker, LF line ends."""
    trailers: list[Trailer]

    @property
    def body_bytes(self) -> bytes:
        return self.body.encode("utf-8")

    def trailer(self, role: str) -> Trailer | None:
        return next((t for t in self.trailers if t.role == role), None)


def build_trailer(role: str, armor: str) -> str:
    """The trailer text for one signature: marker, then the armored signature in a `sshsig` fence."""
    if role not in ROLES:
        raise ValueError(f"unknown signer role {role!r}")
    lines = normalise_armor(armor).rstrip("\n").split("\n")
    marker = f"<!-- deploytui-signature v{SIGNATURE_FORMAT} role={role} -->"
    return "\n".join([marker, "```sshsig", *lines, "```"]) + "\n"


def normalise_armor(armor: str) -> str:
    """An armored SSH signature, checked line by line, with LF line ends and one final LF."""
    lines = [line.strip() for line in armor.replace("\r\n", "\n").strip().split("\n")]
    if len(lines) < 3 or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END:
        raise RecordFormatError("not an armored SSH signature")
    for line in lines[1:-1]:
        if not _BASE64_LINE_RE.match(line):
            raise RecordFormatError("armored SSH signature has a line that is not base64")
    return "\n".join(lines) + "\n"


def decode_record(data: bytes, path: str | Path | None = None) -> str:
    """The record file's text: UTF-8 (strict), CRLF line ends read as LF."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RecordFormatError(f"not UTF-8 (byte {exc.start})", path=path, line=line) from None
    return text.replace("\r\n", "\n")


def parse_record(text: str, path: str | Path | None = None) -> ParsedRecord:
    """Split a record into its canonical body and its trailers, strictly. RecordFormatError names the
    line of the first problem: a body that is not canonical, a malformed trailer, a second trailer of
    one role, anything after the last trailer."""
    text = text.replace("\r\n", "\n")
    lines = _split_keep(text)
    first = next((i for i, line in enumerate(lines) if is_marker_like(line)), len(lines))
    body = "\n".join(lines[:first]) + ("\n" if first < len(lines) else "")
    problem = canonical_problem(body)
    if problem is not None:
        raise RecordFormatError(f"record body is not canonical: {problem[1]}", path=path, line=problem[0])

    trailers: list[Trailer] = []
    i = first
    while i < len(lines):
        if i == len(lines) - 1 and lines[i] == "":
            break  # the final LF
        marker_line = i + 1
        m = _MARKER_RE.match(lines[i])
        if not m:
            what = "text after the last signature" if trailers else "a malformed signature marker"
            raise RecordFormatError(what, path=path, line=marker_line)
        if int(m.group(1)) != SIGNATURE_FORMAT:
            what = f"unsupported signature format v{m.group(1)}"
            raise RecordFormatError(what, path=path, line=marker_line)
        role = m.group(2)
        if role not in ROLES:
            raise RecordFormatError(f"unknown signer role {role!r}", path=path, line=marker_line)
        if any(t.role == role for t in trailers):
            raise RecordFormatError(f"a second {role} signature", path=path, line=marker_line)
        i += 1
        if i >= len(lines) or lines[i] != "```sshsig":
            raise RecordFormatError("expected ```sshsig after the signature marker", path=path, line=i + 1)
        i += 1
        if i >= len(lines) or lines[i] != ARMOR_BEGIN:
            raise RecordFormatError(f"expected {ARMOR_BEGIN}", path=path, line=i + 1)
        armor = [lines[i]]
        i += 1
        while i < len(lines) and lines[i] != ARMOR_END:
            if not _BASE64_LINE_RE.match(lines[i]):
                raise RecordFormatError("signature line is not base64", path=path, line=i + 1)
            armor.append(lines[i])
            i += 1
        if i >= len(lines) or len(armor) < 2:
            raise RecordFormatError(f"expected {ARMOR_END}", path=path, line=i + 1)
        armor.append(lines[i])
        i += 1
        if i >= len(lines) or lines[i] != "```":
            raise RecordFormatError("expected ``` closing the signature", path=path, line=i + 1)
        i += 1
        if i >= len(lines):
            raise RecordFormatError("no final line feed after the signature", path=path, line=i)
        trailers.append(Trailer(role, "\n".join(armor) + "\n", marker_line))
    return ParsedRecord(body, trailers)


def add_signature(record_text: str, role: str, armor: str, path: str | Path | None = None) -> str:
    """The record with one more trailer. Refuses a second signature of a role and a non-canonical body."""
    parsed = parse_record(record_text, path)
    if parsed.trailer(role) is not None:
        raise RecordFormatError(f"the record already has a {role} signature", path=path)
    out = parsed.body + "".join(build_trailer(t.role, t.armor) for t in parsed.trailers)
    return out + build_trailer(role, armor)


# --- the machine-readable data block at the end of the body -------------------------------------------


@dataclass(frozen=True)
class SignoffEntry:
    """One field of the sign-off as the record states it."""

    key: str
    label: str
    value: str
    role: str = ""
    """"deployer", "reviewer" or ""."""


@dataclass
class RecordData:
    """What `deploytui verify` checks beside the signatures, signed as part of the body: every fact the
    body states (result, sign-off, counts, each item's status) so that the visible text can be checked
    against it, and what `verify --session` needs to render the record again (the export time, the tool,
    the number of events)."""

    session: str
    checklist_sha256: str
    signers: dict[str, str]
    """Role -> the principal named in the sign-off ("" when the sign-off leaves it empty)."""
    events_head: str
    events_count: int
    logs: dict[str, str] = field(default_factory=dict)
    """Log file path relative to the session dir -> sha256."""
    exported_at: str = ""
    tool: str = ""
    result: str = ""
    """The result the session finished with ("" when not finished), as the record shows it."""
    signed_off_by: str = ""
    acknowledged_open: int = 0
    """Open items the operator acknowledged at the sign-off."""
    reviewers: int = 1
    """Reviewer signatures the record needs: 1 (four eyes), or 0 when `[signoff] reviewers = 0`."""
    signoff: list[SignoffEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    """Status -> how many counted items have it (zeros left out)."""
    statuses: dict[str, str] = field(default_factory=dict)
    """Item id -> status, for every item the record lists."""
    format: int = RECORD_FORMAT

    def to_json(self) -> str:
        data = {
            "format": self.format,
            "session": self.session,
            "checklist_sha256": self.checklist_sha256,
            "exported_at": self.exported_at,
            "tool": self.tool,
            "result": self.result,
            "signed_off_by": self.signed_off_by,
            "acknowledged_open": self.acknowledged_open,
            "reviewers": self.reviewers,
            "signers": self.signers,
            "signoff": [
                {"key": e.key, "label": e.label, "value": e.value, "role": e.role} for e in self.signoff
            ],
            "counts": self.counts,
            "statuses": self.statuses,
            "events": {"head": self.events_head, "count": self.events_count},
            "logs": dict(sorted(self.logs.items())),
        }
        # Backticks only occur inside JSON strings: as \u0060 they cannot close the fence around the block.
        # DEL, C1 controls and Unicode line separators are escaped too, so canonicalisation never alters it.
        text = json.dumps(data, indent=2, ensure_ascii=False)
        return _JSON_ESCAPE_RE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def render_data_block(data: RecordData) -> str:
    """The last lines of a record body: a heading, a sentence, and the fenced JSON data."""
    return "\n".join(
        [
            DATA_HEADING,
            "",
            "Machine-readable copy of what `deploytui verify` checks; signed with the rest of the record.",
            "",
            DATA_FENCE_OPEN,
            data.to_json(),
            "```",
        ]
    )


def parse_record_data(body: str, path: str | Path | None = None) -> RecordData:
    """The data block that ends a record body. RecordFormatError when missing or malformed."""
    lines = body.rstrip("\n").split("\n")
    if not lines or lines[-1] != "```":
        raise RecordFormatError("the record does not end with its data block", path=path, line=len(lines))
    start = next((i for i in range(len(lines) - 2, -1, -1) if lines[i] == DATA_FENCE_OPEN), None)
    if start is None:
        raise RecordFormatError("the record does not end with its data block", path=path, line=len(lines))
    where = start + 2
    try:
        raw: Any = json.loads("\n".join(lines[start + 1 : -1]))
        version = int(raw["format"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordFormatError(f"malformed record data: {exc}", path=path, line=where) from None
    if version == 1:
        raise RecordFormatError(
            "a format 1 record: its data block does not hold what its text states, "
            "so its text cannot be verified; export the session again to get a format 2 record",
            path=path, line=where,
        )
    if version != RECORD_FORMAT:
        raise RecordFormatError(f"unsupported record format {version}", path=path, line=where)
    try:
        signers = raw["signers"]
        logs = raw["logs"]
        events = raw["events"]
        data = RecordData(
            session=str(raw["session"]),
            checklist_sha256=str(raw["checklist_sha256"]),
            signers={str(k): str(v) for k, v in signers.items()},
            events_head=str(events["head"]),
            events_count=int(events["count"]),
            logs={str(k): str(v) for k, v in logs.items()},
            exported_at=str(raw["exported_at"]),
            tool=str(raw["tool"]),
            result=str(raw["result"]),
            signed_off_by=str(raw["signed_off_by"]),
            acknowledged_open=int(raw["acknowledged_open"]),
            reviewers=int(raw["reviewers"]),
            signoff=[
                SignoffEntry(str(e["key"]), str(e["label"]), str(e["value"]), str(e["role"]))
                for e in raw["signoff"]
            ],
            counts={str(k): int(v) for k, v in raw["counts"].items()},
            statuses={str(k): str(v) for k, v in raw["statuses"].items()},
            format=version,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RecordFormatError(f"malformed record data: {exc}", path=path, line=where) from None
    return data

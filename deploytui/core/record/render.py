"""The signed Markdown record of a session: canonical form, signature trailers, machine-readable data.

Layout of a record file (DESIGN.md, Record and signatures):

    <body: Markdown, canonical>            <- the signed bytes, the same for every signer
    <!-- deploytui-signature v1 role=deployer -->
    ```sshsig
    -----BEGIN SSH SIGNATURE-----
    ...
    -----END SSH SIGNATURE-----
    ```
    <!-- deploytui-signature v1 role=reviewer -->
    ...                                    <- nothing after the last trailer

Canonical body: UTF-8, LF line ends, no trailing whitespace on any line, no control characters but TAB
and LF, no trailing empty lines, exactly one final LF, and no line that starts (after indentation) like
a signature marker or armor line: such a line is escaped with a backslash. The body ends with a fenced
JSON block ("record data") that `deploytui verify` reads: signers, event-log head, log hashes.

Pure: no I/O, no subprocess. Signing and verifying with ssh-keygen live in deploytui.signing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploytui.core.durations import format_duration
from deploytui.core.errors import DeployError
from deploytui.core.session import Session
from deploytui.core.status import Status
from deploytui.core.text import (
    ARMOR_BEGIN,
    ARMOR_END,
    clean,
    clean_line,
    code_span,
    escape_inline,
    escape_marker_line,
    fenced,
    is_marker_like,
    tail_lines,
    truncate_lines,
)

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist, SignoffField

RECORD_FORMAT = 1
"""Version of the record layout and of its data block."""

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
    marker = f"<!-- deploytui-signature v{RECORD_FORMAT} role={role} -->"
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
        if int(m.group(1)) != RECORD_FORMAT:
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


@dataclass
class RecordData:
    """What `deploytui verify` checks beside the signatures, signed as part of the body."""

    session: str
    checklist_sha256: str
    signers: dict[str, str]
    """Role -> the principal named in the sign-off ("" when the sign-off leaves it empty)."""
    events_head: str
    events_count: int
    logs: dict[str, str] = field(default_factory=dict)
    """Log file path relative to the session dir -> sha256."""
    format: int = RECORD_FORMAT

    def to_json(self) -> str:
        data = {
            "format": self.format,
            "session": self.session,
            "checklist_sha256": self.checklist_sha256,
            "signers": self.signers,
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
    try:
        raw: Any = json.loads("\n".join(lines[start + 1 : -1]))
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
            format=int(raw["format"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RecordFormatError(f"malformed record data: {exc}", path=path, line=start + 2) from None
    if data.format != RECORD_FORMAT:
        raise RecordFormatError(f"unsupported record format {data.format}", path=path, line=start + 2)
    return data


# --- rendering a session ---------------------------------------------------------------------------

EVIDENCE_LINES = 15
"""Lines of a run's output shown in the record (the last ones: where errors and verdicts are)."""

MARKS: dict[Status, str] = {
    Status.PASSED: "✅",
    Status.DONE: "☑️",
    Status.FAILED: "❌",
    Status.ERROR: "⛔",
    Status.SKIPPED: "⏭️",
    Status.OVERRIDDEN: "⚠️",
    Status.INTERRUPTED: "⏸️",
    Status.RUNNING: "⏳",
    Status.PENDING: "⬜",
    Status.FLAKY: "🔁",
    Status.BLOCKED: "🚫",
}
"""A symbol per status; the status word always follows, so marks stay distinct in black and white."""

LEGEND_WHEN_USED = frozenset({Status.FLAKY, Status.BLOCKED})
"""Marks the legend names only when the session uses them: a record rendered again from a session of
an earlier version (`verify --session`) keeps the bytes it was signed with."""


@dataclass(frozen=True)
class LogExcerpt:
    """The tail of one run's log, already redacted and cleaned of escapes and control characters."""

    text: str
    omitted: int
    """Lines before the excerpt that are left out."""


@dataclass
class RecordInputs:
    """What the record needs beside the session and the checklist, read from the session dir by the caller."""

    events_head: str
    events_count: int
    logs: dict[str, str] = field(default_factory=dict)
    """Every file under the session's logs/ (path relative to the session dir) -> sha256."""
    excerpts: dict[str, LogExcerpt] = field(default_factory=dict)
    """Log path (relative, as in the session) -> its excerpt."""
    exported_at: str = ""
    tool: str = "deploytui"
    checklist_note: str = ""
    """Why the checklist's structure is not used (file missing, or changed since the session), or ""."""


def status_mark(status: Status) -> str:
    """`[x] ✅ **passed**`: a task box GitHub renders, a symbol, and the word."""
    box = "[x]" if status.is_complete else "[ ]"
    return f"{box} {MARKS[status]} **{status}**"


def _mark(status: Status) -> str:
    return f"{MARKS[status]} {status}"


def counts_used(session: Session, counts: dict[Status, int]) -> set[Status]:
    """Every status the record shows: of its items and of their checks and attempts."""
    used = {s for s, n in counts.items() if n}
    for state in session.items.values():
        used.add(state.status)
        for check in state.checks.values():
            used.add(check.status)
            used.update(a.status for a in check.attempts)
    return used


def _title(text: str) -> str:
    """A checklist title (trusted Markdown from the checklist) on one line, with no raw HTML."""
    return clean_line(text).replace("<", "\\<") or "(untitled)"


def _when(at: str) -> str:
    return escape_inline(at) if at else "—"


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def session_duration(session: Session) -> str:
    start = _parse_time(session.started)
    end = _parse_time(session.finished or session.updated)
    if start is None or end is None or end < start:
        return "—"
    text = format_duration((end - start).total_seconds())
    return text if session.finished else f"{text} (not finished)"


def signoff_fields(checklist: Checklist | None) -> list[SignoffField]:
    if checklist is not None:
        return list(checklist.signoff)
    from deploytui.core.checklist import default_signoff

    return default_signoff()


def signers_of(session: Session, checklist: Checklist | None) -> dict[str, str]:
    """Role -> the name the sign-off gives it ("" when empty). Without a deployer field, the operator."""
    fields = signoff_fields(checklist)
    signers = {}
    for role in ROLES:
        key = next((f.key for f in fields if f.role == role), None)
        value = session.signoff.get(key, "") if key else ""
        if not value and role == "deployer" and key is None:
            value = session.operator
        signers[role] = clean_line(value)
    return signers


def role_labels(checklist: Checklist | None) -> dict[str, str]:
    fields = signoff_fields(checklist)
    labels = {"deployer": "Deployed by", "reviewer": "Reviewed by"}
    for f in fields:
        if f.role in labels:
            labels[f.role] = clean_line(f.label)
    return labels


def session_result(session: Session) -> str:
    """The result the session finished with, else the sign-off's Result field, else ""."""
    if session.result:
        return clean_line(session.result)
    return clean_line(session.signoff.get("result", ""))


def is_rollback(result: str) -> bool:
    return "rollback" in result.lower().replace(" ", "").replace("-", "")


def render_record(session: Session, checklist: Checklist | None, inputs: RecordInputs) -> str:
    """The record body of `session`: canonical Markdown, the data block last. Pure.

    `checklist` gives the tree of sections and the sign-off form; None (file missing or changed) lists
    the session's items by themselves. Every text that came from outside (output, reasons, notes, names)
    is escaped or fenced so it cannot change the document's structure.
    """
    out: list[str] = []
    title = session.checklist_title or (checklist.title if checklist else "") or "Deployment"
    result = session_result(session)
    counts = session.counts(checklist)
    signers = signers_of(session, checklist)
    labels = role_labels(checklist)

    out += [f"# Deployment record: {_title(title)}", ""]
    verdict = escape_inline(result) if result else "not finished"
    complete = sum(n for s, n in counts.items() if s.is_complete)
    total = sum(counts.values())
    out += [f"**Result: {verdict}** · {complete} of {total} items complete", ""]

    out += ["## Summary", "", "| | |", "|---|---|"]
    rows = [
        ("Checklist", code_span(session.checklist_path or "(not from a file)")),
        ("Checklist sha256", code_span(session.checklist_sha256)),
        ("Session", code_span(session.id)),
        ("Operator", escape_inline(session.operator) or "—"),
        ("Host", escape_inline(session.host) or "—"),
        ("Started", _when(session.started)),
        ("Finished", _when(session.finished or "") if session.finished else "not finished"),
        ("Duration", session_duration(session)),
        ("Result", verdict),
        ("Exported", f"{_when(inputs.exported_at)} by {escape_inline(inputs.tool)}"),
    ]
    out += [f"| {name} | {value} |" for name, value in rows]
    out.append("")
    present = [f"{MARKS[s]} {s} {n}" for s, n in counts.items() if n]
    out += [f"**Items ({total}):** " + (" · ".join(present) if present else "none"), ""]
    used = set(counts_used(session, counts))
    out += ["Marks: " + " · ".join(_mark(s) for s in MARKS if s not in LEGEND_WHEN_USED or s in used), ""]

    deployer = escape_inline(signers["deployer"]) or "(not named)"
    reviewer = escape_inline(signers["reviewer"])
    out.append(
        f"Signatures: the deployer **{deployer}** (sign-off “{escape_inline(labels['deployer'])}”) "
        "signs this record; "
        + (
            f"the reviewer **{reviewer}** (sign-off “{escape_inline(labels['reviewer'])}”) is expected to "
            "countersign it."
            if reviewer
            else f"no reviewer is named (sign-off “{escape_inline(labels['reviewer'])}” is empty), so none "
            "countersigns."
        )
    )
    out.append("")
    if inputs.checklist_note:
        out += [f"Note: {escape_inline(inputs.checklist_note)}", ""]

    out += ["## Checklist", ""]
    if checklist is not None:
        for root in checklist.roots:
            node = checklist.nodes[root]
            if node.rollback:
                continue
            _render_node(out, session, checklist, inputs, root, heading_level=3, indent="")
        orphans = [s for s in session.items.values() if s.orphan and s.status is not Status.PENDING]
        if orphans:
            out += ["### Items no longer in the checklist", ""]
            for state in orphans:
                _render_item(out, session, None, inputs, state.id, indent="")
            out.append("")
    else:
        for state in session.items.values():
            if state.parent is None and not state.rollback:
                _render_item(out, session, None, inputs, state.id, indent="")
        out.append("")

    out += ["## Sign-off", ""]
    for f in signoff_fields(checklist):
        value = session.signoff.get(f.key, "")
        label = escape_inline(f.label)
        role_note = {"deployer": " _(signs as deployer)_", "reviewer": " _(countersigns as reviewer)_"}.get(
            f.role or "", ""
        )
        if "\n" in value.strip():
            out += [f"- **{label}:**{role_note}", "", fenced(clean(value).strip("\n"), "text", "  "), ""]
        else:
            out.append(f"- **{label}:** {escape_inline(value) if value.strip() else '—'}{role_note}")
    if session.signoff_by:
        out.append(f"- Signed off in deploytui by {escape_inline(session.signoff_by)}")
    out.append("")

    rollback_ids = [s.id for s in session.items.values() if s.rollback and not s.orphan]
    if is_rollback(result):
        out += ["## Rollback", ""]
        if checklist is not None and checklist.rollback_id is not None:
            node = checklist.nodes[checklist.rollback_id]
            out += [f"{_title(node.title)} — {_mark(session.status_of(node.id, checklist))}", ""]
            for child in node.children:
                _render_node(out, session, checklist, inputs, child, heading_level=3, indent="")
        else:
            for item_id in rollback_ids:
                if session.items[item_id].parent is None:
                    _render_item(out, session, None, inputs, item_id, indent="")
        out.append("")
    elif rollback_ids:
        out += ["## Rollback", "", f"Not used (result: {verdict}).", ""]

    out += ["## Evidence index", ""]
    if inputs.logs:
        out += ["| Log file | sha256 |", "|---|---|"]
        out += [f"| {code_span(path)} | {code_span(sha)} |" for path, sha in sorted(inputs.logs.items())]
    else:
        out.append("No log files.")
    out += [
        "",
        f"Event log: {code_span('events.jsonl')}, {inputs.events_count} events, "
        f"head {code_span(inputs.events_head)}.",
        "",
    ]

    data = RecordData(
        session=session.id,
        checklist_sha256=session.checklist_sha256,
        signers=signers,
        events_head=inputs.events_head,
        events_count=inputs.events_count,
        logs=dict(inputs.logs),
    )
    out.append(render_data_block(data))
    body = canonicalise("\n".join(out))
    return body


def _render_node(
    out: list[str], session: Session, checklist: Checklist, inputs: RecordInputs, node_id: str,
    heading_level: int, indent: str,
) -> None:
    node = checklist.nodes[node_id]
    if node.kind == "item":
        _render_item(out, session, checklist, inputs, node_id, indent)
        return
    if out and out[-1] != "":
        out.append("")
    hashes = "#" * min(heading_level, 6)
    status = session.status_of(node_id, checklist)
    out += [f"{hashes} {_title(node.title)} — {_mark(status)}", ""]
    for child in node.children:
        child_node = checklist.nodes[child]
        if child_node.rollback and not node.rollback:
            continue
        _render_node(out, session, checklist, inputs, child, heading_level + 1, indent)
    if out and out[-1] != "":
        out.append("")


def _render_item(
    out: list[str], session: Session, checklist: Checklist | None, inputs: RecordInputs, item_id: str,
    indent: str,
) -> None:
    state = session.items.get(item_id)
    sub = indent + "  "
    if state is None:
        title = checklist.nodes[item_id].title if checklist else item_id
        out.append(f"{indent}- {status_mark(Status.PENDING)} — {_title(title)} · {code_span(item_id)}")
        out.append(f"{sub}- not in this session")
        return
    status = session.status_of(item_id, checklist)
    title = state.title
    if not title:
        title = checklist.nodes[item_id].title if checklist and item_id in checklist.nodes else item_id
    out.append(f"{indent}- {status_mark(status)} — {_title(title)} · {code_span(item_id)}")
    if state.by or state.at:
        line = f"{sub}- by {escape_inline(state.by) or '—'} at {_when(state.at)}"
        if state.duration_ms:
            line += f" · {format_duration(state.duration_ms / 1000)}"
        out.append(line)
    if state.status is Status.SKIPPED and state.reason:
        out.append(f"{sub}- skipped because: {escape_inline(state.reason)}")
    for note in state.notes:
        head = f"{sub}- note by {escape_inline(note.by)} at {_when(note.at)}:"
        text = clean(note.text).strip("\n")
        if "\n" in text:
            out += [head, "", fenced(text, "text", sub + "  "), ""]
        else:
            out.append(f"{head} {escape_inline(text)}")
    for check in state.checks.values():
        label = check.label or check.key
        kind = f" ({escape_inline(check.kind)})" if check.kind else ""
        line = f"{sub}- check {code_span(label)}{kind}: {_mark(check.status)}"
        if check.reason:
            line += f" — {escape_inline(check.reason)}"
        if check.duration_ms:
            line += f" · {format_duration(check.duration_ms / 1000)}"
        if check.at:
            line += f" · at {_when(check.at)}"
        out.append(line)
        if check.values:
            values = " · ".join(code_span(f"{k}={v}") for k, v in sorted(check.values.items()))
            out.append(f"{sub}  - measured: {values}")
        for number, attempt in enumerate(check.attempts, start=1):
            line = f"{sub}  - attempt {attempt.number or number}: {_mark(attempt.status)}"
            if attempt.reason:
                line += f" — {escape_inline(attempt.reason)}"
            line += f" · {format_duration(attempt.duration_ms / 1000)}"
            if attempt.started_ms:
                line += f" · at +{format_duration(attempt.started_ms / 1000)}"
            out.append(line)
        _render_evidence(out, inputs, check.log, check.evidence, sub + "  ")
    for run in state.actions:
        out.append(
            f"{sub}- action #{run.index + 1} run by {escape_inline(run.by)} at {_when(run.at)}: "
            f"exit code {run.exit_code}"
        )
        _render_evidence(out, inputs, run.log, "", sub + "  ")
    if checklist is not None and item_id in checklist.nodes:
        for child in checklist.nodes[item_id].children:
            _render_item(out, session, checklist, inputs, child, sub)
    else:
        for child in session.children_of(item_id):
            _render_item(out, session, None, inputs, child, sub)


def _render_evidence(out: list[str], inputs: RecordInputs, log: str, evidence: str, indent: str) -> None:
    excerpt = inputs.excerpts.get(log) if log else None
    if excerpt is not None:
        text, omitted = excerpt.text, excerpt.omitted
        source = f"the last {EVIDENCE_LINES} lines of {code_span(log)}" if omitted else code_span(log)
    elif evidence.strip():
        text, omitted = tail_lines(truncate_lines(clean(evidence)), EVIDENCE_LINES)
        source = "the check's evidence" + (f" (last {EVIDENCE_LINES} lines)" if omitted else "")
    else:
        if log:
            out.append(f"{indent}- log {code_span(log)} (not available)")
        return
    text = text.strip("\n")
    if not text.strip():
        out.append(f"{indent}- evidence: {source} is empty")
        return
    suffix = f", {omitted} earlier lines left out" if omitted else ""
    out += [f"{indent}- evidence, {source}{suffix}:", "", fenced(text, "text", indent + "  "), ""]

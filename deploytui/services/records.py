"""Records: export, sign and verify the signed Markdown record of a session, for both faces.

    write_record(source, path, sign_key=None, ...) -> Path         export (and sign as deployer)
    sign_record(path, key, role="reviewer", ...) -> SignatureInfo  countersign
    verify_record(path, allowed_signers, session=None) -> VerifyReport
A session's events and logs are read through the storage protocol (`deploytui.storage.base`), never
from a store's layout; signing calls ssh-keygen (`deploytui.signing`); rendering is pure
(`deploytui.core.record`).

Why ~670 lines: export, sign and verify share the reading of a session through the store (events,
log hashes, excerpts) and verification re-renders with exactly the export's inputs; splitting them
would duplicate that reading.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from deploytui import __version__, signing
from deploytui.core.errors import DeployError
from deploytui.core.record import (
    EVIDENCE_LINES,
    ROLES,
    LogExcerpt,
    ParsedRecord,
    RecordData,
    RecordFormatError,
    RecordInputs,
    add_signature,
    build_trailer,
    canonical_problem,
    decode_record,
    history_of,
    parse_record,
    parse_record_data,
    render_record,
    stated_problems,
)
from deploytui.core.record.masking import mask_session
from deploytui.core.redact import Redactor
from deploytui.core.session import Session
from deploytui.core.text import clean, tail_lines, truncate_lines
from deploytui.services.sessions import resolve_session
from deploytui.storage.base import EventChain, LiveSession, SessionRepository

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist

TAIL_BYTES = 256 * 1024
"""Bytes kept from the end of a log while hashing it, to cut the evidence excerpt from (enough for
EVIDENCE_LINES lines of MAX_LINE_CHARS, without holding a multi-gigabyte log in memory)."""

CHUNK_BYTES = 1024 * 1024
"""Read size while hashing log files."""


# --- reading a session dir ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFacts:
    sha256: str
    lines: int
    tail: bytes
    """The last TAIL_BYTES of the file."""


def scan_log(stream: BinaryIO) -> LogFacts:
    """sha256, line count and tail of a log, in one streaming pass."""
    digest = hashlib.sha256()
    lines = 0
    last = b""
    tail: deque[bytes] = deque()
    kept = 0
    while chunk := stream.read(CHUNK_BYTES):
        digest.update(chunk)
        lines += chunk.count(b"\n")
        last = chunk
        tail.append(chunk)
        kept += len(chunk)
        while kept - len(tail[0]) >= TAIL_BYTES:
            kept -= len(tail.popleft())
    if last and not last.endswith(b"\n"):
        lines += 1
    data = b"".join(tail)[-TAIL_BYTES:]
    return LogFacts(digest.hexdigest(), lines, data)


def excerpt_of(facts: LogFacts, redactor: Redactor | None = None) -> LogExcerpt:
    """The last EVIDENCE_LINES lines of a log, redacted, escapes and control characters removed."""
    data = facts.tail
    partial = facts.lines > data.count(b"\n") + 1
    text = data.decode("utf-8", "replace")
    if partial and "\n" in text:
        text = text.split("\n", 1)[1]  # the first line was cut by the tail window
    if redactor is not None:
        text = redactor.redact(text)
    shown, _ = tail_lines(truncate_lines(clean(text)), EVIDENCE_LINES)
    if redactor is not None:
        shown = redactor.redact(shown)  # cleaning can join a secret an escape or a CR had split
    shown_count = len(shown.split("\n")) if shown else 0
    return LogExcerpt(shown, max(0, facts.lines - shown_count))


def scan_stored_log(store: SessionRepository, session_id: str, name: str) -> LogFacts:
    with store.open_log(session_id, name) as stream:
        try:
            return scan_log(stream)
        except OSError as exc:
            raise DeployError(f"cannot read log {name}: {exc.strerror}") from None


def record_inputs(
    store: SessionRepository,
    session: Session,
    redactor: Redactor | None = None,
    checklist_note: str = "",
    *,
    exported_at: str | None = None,
    tool: str | None = None,
    only_logs: set[str] | None = None,
    chain: EventChain | None = None,
) -> RecordInputs:
    """Read what the record needs from the store: the event chain's head (checked intact up to the state
    rendered), the history its events tell, every log's sha256 (only those of `only_logs` when given: a
    record rendered again for `verify` lists the logs it listed), and the excerpts of the logs the
    session refers to."""
    chain = chain or store.event_chain(session.id)
    count = session.seq or chain.count
    if count > chain.count:
        raise DeployError(
            f"session {session.id}: the session reflects {count} events but the log has {chain.count}"
        )
    head = chain.hashes[count - 1] if count else ""
    if session.head and session.head != head:
        raise DeployError(
            f"session {session.id}: event {count} differs from the session's: the log was altered"
        )
    referenced = {c.log for s in session.items.values() for c in s.checks.values() if c.log}
    referenced |= {a.log for s in session.items.values() for a in s.actions if a.log}
    hashes: dict[str, str] = {}
    excerpts: dict[str, LogExcerpt] = {}
    for rel in store.log_names(session.id):
        if only_logs is not None and rel not in only_logs:
            continue
        facts = scan_stored_log(store, session.id, rel)
        hashes[rel] = facts.sha256
        if rel in referenced:
            excerpts[rel] = excerpt_of(facts, redactor)
    return RecordInputs(
        events_head=head,
        events_count=count,
        logs=hashes,
        excerpts=excerpts,
        exported_at=exported_at or datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        tool=tool or f"deploytui {__version__}",
        checklist_note=checklist_note,
        history=history_of(chain.events[:count]),
    )


def _load_checklist(session: Session) -> tuple[Checklist | None, str]:
    """The session's checklist when its file still has the session's sha256, else None and why."""
    from deploytui.core.checklist import load_checklist

    if not session.checklist_path:
        return None, "the checklist was not read from a file; items are listed from the session"
    path = Path(session.checklist_path)
    if not path.is_file():
        return None, f"the checklist {path} is no longer there; items are listed from the session"
    try:
        checklist = load_checklist(path)
    except DeployError as exc:
        return None, f"the checklist cannot be read ({exc}); items are listed from the session"
    if checklist.sha256 != session.checklist_sha256:
        return None, (
            f"the checklist {path} changed since the session (sha256 {checklist.sha256[:12]}); "
            "items are listed from the session"
        )
    return checklist, ""


# --- export -------------------------------------------------------------------------------------------


def render_session(
    source: LiveSession | str | Path,
    *,
    sessions_dir: str | Path = "sessions",
    checklist: Checklist | None = None,
    redactor: Redactor | None = None,
    exported_at: str | None = None,
) -> tuple[str, Session]:
    """The record body of a session (a LiveSession, an id in `sessions_dir`, a <id>.toml path or a
    session directory), and the session it was rendered from. Deterministic: the same session, logs,
    checklist, export time and tool give the same bytes (`verify --session` relies on it)."""
    store: SessionRepository
    if isinstance(source, (str, Path)):
        store, session_id = resolve_session(source, sessions_dir)
        if not store.exists(session_id):
            raise DeployError(f"no session {session_id} in {store.location}")
        session = store.load(session_id)
    else:
        # A copy held still while it is taken: engine workers may apply changes meanwhile, and the
        # (slow) log hashing below must not hold the session.
        with source.snapshot() as held:
            session = copy.deepcopy(held)
        store = source.store
        redactor = redactor or source.redactor
    if redactor is not None:
        # Masked once more with these secrets: a session recorded under an older config is covered too.
        session = mask_session(session, redactor)
    note = ""
    if checklist is None or checklist.sha256 != session.checklist_sha256:
        checklist, note = _load_checklist(session)
    inputs = record_inputs(store, session, redactor, note, exported_at=exported_at)
    return render_record(session, checklist, inputs), session


def render_again(
    store: SessionRepository,
    session_id: str,
    data: RecordData,
    *,
    redactor: Redactor | None = None,
) -> str:
    """The record body the session renders for the export `data` describes: its first
    `data.events_count` events, the logs the record lists, its export time and tool."""
    chain = store.event_chain(session_id)
    if chain.count < data.events_count:
        raise DeployError(
            f"session {session_id} has {chain.count} events, the record counts {data.events_count}"
        )
    session = Session.from_events(chain.events[: data.events_count])
    checklist, note = _load_checklist(session)
    inputs = record_inputs(
        store, session, redactor, note, exported_at=data.exported_at, tool=data.tool,
        only_logs=set(data.logs), chain=chain,
    )
    return render_record(session, checklist, inputs)


def write_record(
    source: LiveSession | str | Path,
    path: str | Path,
    sign_key: str | Path | signing.SigningKey | None = None,
    *,
    sessions_dir: str | Path = "sessions",
    checklist: Checklist | None = None,
    redactor: Redactor | None = None,
    env: dict[str, str] | None = None,
    interactive: bool | None = None,
    overwrite: bool = False,
) -> Path:
    """Export a session's record to `path` (atomically), signed as deployer when `sign_key` is given.
    An existing file is kept (DeployError) unless `overwrite`: it may be a countersigned record.

    The TUI calls this from its sign-off screen (suspended around it when signing: ssh-keygen may ask
    for a passphrase). SigningError / DeployError say what went wrong in one line.
    """
    text = export_text(source, sign_key, sessions_dir=sessions_dir, checklist=checklist, redactor=redactor,
                       env=env, interactive=interactive)
    target = Path(path)
    atomic_write_text(target, text, overwrite=overwrite)
    return target


def export_text(
    source: LiveSession | str | Path,
    sign_key: str | Path | signing.SigningKey | None = None,
    *,
    sessions_dir: str | Path = "sessions",
    checklist: Checklist | None = None,
    redactor: Redactor | None = None,
    env: dict[str, str] | None = None,
    interactive: bool | None = None,
) -> str:
    body, _session = render_session(source, sessions_dir=sessions_dir, checklist=checklist, redactor=redactor)
    if sign_key is None:
        return body
    return sign_body(body, sign_key, env=env, interactive=interactive)


def sign_body(
    body: str,
    sign_key: str | Path | signing.SigningKey,
    *,
    env: dict[str, str] | None = None,
    interactive: bool | None = None,
) -> str:
    """A rendered record body signed as deployer (the body plus its deployer trailer)."""
    data = rendered_record_data(body)
    if not data.signers.get("deployer"):
        raise DeployError("the sign-off names no deployer (Deployed by is empty): fill it in before signing")
    armor = signing.sign(body.encode("utf-8"), sign_key, env=env, interactive=interactive)
    return body + build_trailer("deployer", armor)


def atomic_write_text(target: Path, text: str, *, overwrite: bool = True) -> None:
    """Write via a temp file in the same dir, fsync, rename, fsync the dir: a reader never sees half a
    record, and a crash right after leaves the old file or the new one. `overwrite=False` refuses an
    existing file (atomically: the temp file is hard-linked into place, which fails when it exists)."""
    directory = target.parent if str(target.parent) else Path(".")
    if not overwrite and target.exists():
        raise DeployError("the file exists (it may be a signed record): give --force to replace it",
                          path=target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise DeployError(f"cannot write the record: {exc.strerror}", path=target) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise DeployError(
                    "the file exists (it may be a signed record): give --force to replace it", path=target
                ) from None
            finally:
                os.unlink(tmp)
        _fsync_dir(directory)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise DeployError(f"cannot write the record: {exc.strerror}", path=target) from None


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (the directory entry itself is data)."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rendered_record_data(body: str, path: str | Path | None = None) -> RecordData:
    """The data block of a body deploytui rendered, or DeployError: the body must be canonical, end with
    a format 2 data block, and state nothing its data block does not (so a hand-written or edited text
    is never signed)."""
    problem = canonical_problem(body)
    if problem is not None:
        raise RecordFormatError(f"record body is not canonical: {problem[1]}", path=path, line=problem[0])
    data = parse_record_data(body, path)
    stated = stated_problems(body, data)
    if stated:
        line, what = stated[0]
        raise RecordFormatError(
            f"not a record as deploytui renders it: {what}; export the session again", path=path, line=line
        )
    return data


# --- sign (countersign) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureInfo:
    role: str
    principal: str
    fingerprint: str
    key_type: str


def read_record(path: str | Path) -> str:
    target = Path(path)
    return decode_record(_read_record_bytes(target), target)


def _read_record_bytes(target: Path) -> bytes:
    """The record file's bytes; a one-line DeployError naming it when it cannot be read."""
    try:
        return target.read_bytes()
    except FileNotFoundError:
        raise DeployError("no such record file", path=target) from None
    except IsADirectoryError:
        raise DeployError("is a directory, not a record", path=target) from None
    except OSError as exc:
        raise DeployError(f"cannot read the record: {exc.strerror}", path=target) from None


def sign_record(
    path: str | Path,
    key: str | Path | signing.SigningKey,
    role: str = "reviewer",
    *,
    env: dict[str, str] | None = None,
    interactive: bool | None = None,
) -> SignatureInfo:
    """Add `role`'s signature over the record's body. Refuses a second signature of a role, a body that
    is not canonical, a record whose existing signatures do not match its body, and a role the sign-off
    names nobody for."""
    if role not in ROLES:
        raise DeployError(f"unknown role {role!r} (deployer or reviewer)")
    target = Path(path)
    text = read_record(target)
    parsed = parse_record(text, target)
    if parsed.trailer(role) is not None:
        raise DeployError(f"the record already has a {role} signature", path=target)
    data = rendered_record_data(parsed.body, target)
    principal = data.signers.get(role, "")
    if not principal:
        what = f"the record's sign-off names no {role}: nobody is expected to sign as {role}"
        raise DeployError(what, path=target)
    if same_principal(data.signers.get("deployer", ""), data.signers.get("reviewer", "")):
        raise DeployError(
            f"four eyes: the sign-off names {principal!r} as deployer and as reviewer; the reviewer must "
            "be another person", path=target,
        )
    body = parsed.body_bytes
    for trailer in parsed.trailers:
        verdict = signing.check_novalidate(body, trailer.armor)
        if not verdict.good:
            raise DeployError(
                f"the {trailer.role} signature does not match the record's body ({verdict.message}): "
                "the record was changed after it was signed",
                path=target, line=trailer.line,
            )
    armor = signing.sign(body, key, env=env, interactive=interactive)
    sig = signing.parse_sshsig(armor)
    for trailer in parsed.trailers:
        if signing.parse_sshsig(trailer.armor).key_fingerprint == sig.key_fingerprint:
            raise DeployError(
                f"four eyes: this key ({sig.key_fingerprint}) already signed the record as {trailer.role}; "
                f"the {role} signs with their own key", path=target,
            )
    atomic_write_text(target, add_signature(text, role, armor, target))
    return SignatureInfo(role, principal, sig.key_fingerprint, sig.key_type)


def same_principal(a: str, b: str) -> bool:
    """Whether two sign-off names are one person (case and spacing aside); empty names are nobody."""
    def norm(name: str) -> str:
        return " ".join(name.split()).casefold()

    return bool(norm(a)) and norm(a) == norm(b)


# --- verify ---------------------------------------------------------------------------------------------


@dataclass
class SignatureReport:
    role: str
    principal: str
    """Who the sign-off says signs in this role."""
    fingerprint: str = ""
    key_type: str = ""
    good: bool = False
    message: str = ""
    key_principals: list[str] = field(default_factory=list)
    """Whom allowed_signers says the key belongs to (looked up when the signature is not good)."""

    def line(self) -> str:
        who = f'"{self.principal}"' if self.principal else "(nobody named)"
        key = f"{self.key_type} {self.fingerprint}".strip() or "-"
        verdict = "good" if self.good else f"BAD: {self.message}"
        if not self.good and self.key_principals:
            verdict += f" (allowed_signers gives this key to {', '.join(self.key_principals)})"
        return f"{self.role:<9} {who:<24} {key:<60} {verdict}"


@dataclass
class VerifyReport:
    path: Path
    signatures: list[SignatureReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: RecordData | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.signatures) and all(s.good for s in self.signatures)

    def lines(self) -> list[str]:
        out = [f"record {self.path}"]
        out += [s.line() for s in self.signatures]
        out += [f"note: {n}" for n in self.notes]
        out += [f"FAILED: {p}" for p in self.problems]
        out.append("verified: every signature is good" if self.ok else "verification FAILED")
        return out


def verify_record(
    path: str | Path,
    allowed_signers: str | Path,
    session: str | Path | None = None,
    *,
    sessions_dir: str | Path = "sessions",
    redactor: Redactor | None = None,
) -> VerifyReport:
    """Check a record: structure, canonical body, every signature against allowed_signers for the
    principal its role has in the sign-off, every named role signed, four eyes (two people, two keys, a
    reviewer unless the record declares none), and the text against its own signed data block; with
    `session`, the event chain and every log file against the hashes in the record, and the text byte for
    byte against the record the session renders again (with `redactor`, as the export masked it).
    DeployError (exit 2) only for unreadable input; anything wrong with the record itself is a problem
    in the report."""
    target = Path(path)
    allowed = Path(allowed_signers)
    try:
        if not allowed.is_file() or not allowed.read_bytes().strip():
            raise DeployError("no such allowed_signers file, or it is empty", path=allowed)
    except OSError as exc:
        raise DeployError(f"cannot read allowed_signers: {exc.strerror}", path=allowed) from None
    stored: tuple[SessionRepository, str] | None = None
    if session is not None:
        stored = resolve_session(session, sessions_dir)
        if not stored[0].exists(stored[1]):
            raise DeployError(f"no session {stored[1]} in {stored[0].location}")
    data_bytes = _read_record_bytes(target)

    report = VerifyReport(target)
    try:
        parsed = parse_record(decode_record(data_bytes, target), target)
        data = parse_record_data(parsed.body, target)
    except RecordFormatError as exc:
        report.problems.append(str(exc))
        return report
    report.data = data
    for line, what in stated_problems(parsed.body, data):
        report.problems.append(f"{target}:{line}: the text disagrees with its signed data: {what}")
    _verify_signatures(report, parsed, data, allowed)
    _verify_four_eyes(report, parsed, data)
    if stored is not None:
        _verify_session(report, data, *stored)
        _verify_text(report, parsed, data, *stored, redactor=redactor)
    return report


def _verify_four_eyes(report: VerifyReport, parsed: ParsedRecord, data: RecordData) -> None:
    deployer, reviewer = data.signers.get("deployer", ""), data.signers.get("reviewer", "")
    if same_principal(deployer, reviewer):
        report.problems.append(
            f"four eyes: {deployer!r} is both deployer and reviewer; the reviewer must be another person"
        )
    if not reviewer and data.reviewers:
        report.problems.append(
            "four eyes: the sign-off names no reviewer, and the record needs one "
            "(a configuration with [signoff] reviewers = 0 declares that no one countersigns)"
        )
    keys: dict[str, str] = {}
    for trailer in parsed.trailers:
        try:
            keys[trailer.role] = signing.parse_sshsig(trailer.armor).key_fingerprint
        except (ValueError, RecordFormatError):
            continue
    if len(keys) == 2 and keys["deployer"] == keys["reviewer"]:
        report.problems.append(
            f"four eyes: the deployer and the reviewer signed with one key ({keys['deployer']})"
        )


def _verify_text(
    report: VerifyReport, parsed: ParsedRecord, data: RecordData, store: SessionRepository, session_id: str,
    *, redactor: Redactor | None,
) -> None:
    """The signed body is, byte for byte, what the session renders for this export."""
    try:
        again = render_again(store, session_id, data, redactor=redactor)
    except DeployError as exc:
        report.problems.append(f"cannot render the session again: {exc}")
        return
    if again == parsed.body:
        report.notes.append("the text is exactly what the session renders (every line matches)")
        return
    signed, rendered = parsed.body.split("\n"), again.split("\n")
    line = next(
        (i for i, (a, b) in enumerate(zip(signed, rendered, strict=False)) if a != b),
        min(len(signed), len(rendered)),
    )
    ours = signed[line] if line < len(signed) else "(end of the record)"
    theirs = rendered[line] if line < len(rendered) else "(end of the rendering)"
    report.problems.append(
        f"{report.path}:{line + 1}: the text differs from what the session renders: the record says "
        f"{ours!r}, the session gives {theirs!r}"
    )


def _verify_signatures(report: VerifyReport, parsed: ParsedRecord, data: RecordData, allowed: Path) -> None:
    body = parsed.body_bytes
    if not parsed.trailers:
        report.problems.append("the record is not signed")
    for trailer in parsed.trailers:
        principal = data.signers.get(trailer.role, "")
        entry = SignatureReport(trailer.role, principal)
        report.signatures.append(entry)
        try:
            sig = signing.parse_sshsig(trailer.armor)
        except (ValueError, RecordFormatError) as exc:
            entry.message = f"unreadable signature ({exc})"
            continue
        entry.fingerprint, entry.key_type = sig.key_fingerprint, sig.key_type
        if not principal:
            entry.message = f"the sign-off names no {trailer.role}"
            continue
        verdict = signing.verify(body, trailer.armor, allowed, principal)
        entry.good, entry.message = verdict.good, verdict.message
        if not verdict.good:
            entry.key_principals = signing.find_principals(trailer.armor, allowed)
    signed = {t.role for t in parsed.trailers}
    for role in ROLES:
        if role not in signed and data.signers.get(role):
            report.problems.append(f"no {role} signature (the sign-off names {data.signers[role]!r})")
    if not data.signers.get("deployer"):
        report.problems.append("the sign-off names no deployer")


def _verify_session(
    report: VerifyReport, data: RecordData, store: SessionRepository, session_id: str
) -> None:
    try:
        chain = store.event_chain(session_id)
    except DeployError as exc:
        report.problems.append(f"event log: {exc}")
    else:
        created_id = getattr(chain.events[0], "id", None) if chain.events else None  # a CreatedEvent
        if created_id != data.session:
            report.problems.append(
                f"session {session_id} is session {created_id!r}, the record is of {data.session!r}"
            )
        elif chain.count < data.events_count:
            report.problems.append(
                f"event log: {chain.count} events, the record counts {data.events_count}: events were removed"
            )
        elif data.events_count and chain.hashes[data.events_count - 1] != data.events_head:
            report.problems.append(
                f"event log: event {data.events_count} does not hash to the record's head: "
                "the log was altered"
            )
        else:
            extra = chain.count - data.events_count
            report.notes.append(
                f"event chain intact, {data.events_count} events match the record"
                + (f"; {extra} later events (after the export)" if extra else "")
            )
    stored = set(store.log_names(session_id))
    bad = 0
    for rel, expected in sorted(data.logs.items()):
        if rel not in stored:
            report.problems.append(f"log {rel}: missing")
            bad += 1
            continue
        try:
            actual = scan_stored_log(store, session_id, rel).sha256
        except DeployError as exc:
            report.problems.append(f"log {rel}: {exc}")
            bad += 1
            continue
        if actual != expected:
            report.problems.append(
                f"log {rel}: sha256 {actual[:16]}… differs from the record's {expected[:16]}…"
            )
            bad += 1
    if not bad:
        report.notes.append(f"{len(data.logs)} log files match their hashes")
    extra_logs = sorted(stored - set(data.logs))
    if extra_logs:
        report.notes.append(f"{len(extra_logs)} log files not in the record (written after the export)")

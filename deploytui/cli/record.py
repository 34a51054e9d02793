"""`deploytui export`, `sign` and `verify`: the signed Markdown record of a session.

The functions here are also the API the TUI's sign-off screen uses:
    write_record(source, path, sign_key=None, ...) -> Path      export (and sign as deployer)
    sign_record(path, key, role="reviewer", ...) -> SignatureInfo  countersign
    verify_record(path, allowed_signers, session_dir=None) -> VerifyReport
They read the session dir (logs, event chain) and call ssh-keygen; the rendering itself is pure
(deploytui.core.record).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import sys
import tempfile
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

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
    decode_record,
    parse_record,
    parse_record_data,
    render_record,
)
from deploytui.core.redact import Redactor
from deploytui.core.session import Session
from deploytui.core.text import clean, clean_line, tail_lines, truncate_lines
from deploytui.storage.fs import EVENTS_FILE, LOGS_DIR, LiveSession, SessionStore, read_events

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


def scan_log(path: Path) -> LogFacts:
    """sha256, line count and tail of a log file, in one streaming pass."""
    digest = hashlib.sha256()
    lines = 0
    last = b""
    tail: deque[bytes] = deque()
    kept = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
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
    if redactor:
        text = redactor.redact(text)
    shown, _ = tail_lines(truncate_lines(clean(text)), EVIDENCE_LINES)
    if redactor:
        shown = redactor.redact(shown)  # cleaning can join a secret an escape or a CR had split
    shown_count = len(shown.split("\n")) if shown else 0
    return LogExcerpt(shown, max(0, facts.lines - shown_count))


def log_files(session_dir: Path) -> list[Path]:
    """Every regular file under the session's logs/, sorted."""
    root = session_dir / LOGS_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def record_inputs(
    session: Session, session_dir: Path, redactor: Redactor | None = None, checklist_note: str = ""
) -> RecordInputs:
    """Read what the record needs from the session dir: the event chain's head (checked intact up to
    the state rendered), every log's sha256, and the excerpts of the logs the session refers to."""
    events_path = session_dir / EVENTS_FILE
    log = read_events(events_path, allow_partial_tail=True)
    count = session.seq or log.count
    if count > log.count:
        what = f"the session reflects {count} events but the log has {log.count}"
        raise DeployError(what, path=events_path)
    head = log.hashes[count - 1] if count else log.head
    if session.head and session.head != head:
        raise DeployError(f"event {count} differs from the session's: the log was altered", path=events_path)
    referenced = {c.log for s in session.items.values() for c in s.checks.values() if c.log}
    referenced |= {a.log for s in session.items.values() for a in s.actions if a.log}
    hashes: dict[str, str] = {}
    excerpts: dict[str, LogExcerpt] = {}
    for path in log_files(session_dir):
        rel = path.relative_to(session_dir).as_posix()
        try:
            facts = scan_log(path)
        except OSError as exc:
            raise DeployError(f"cannot read log: {exc.strerror}", path=path) from None
        hashes[rel] = facts.sha256
        if rel in referenced:
            excerpts[rel] = excerpt_of(facts, redactor)
    return RecordInputs(
        events_head=head,
        events_count=count,
        logs=hashes,
        excerpts=excerpts,
        exported_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        tool=f"deploytui {__version__}",
        checklist_note=checklist_note,
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


def resolve_session(source: str | Path, sessions_dir: str | Path) -> tuple[SessionStore, str]:
    """SESSION as given on the command line: an id in the sessions dir, a path to <id>.toml, or a
    path to the session's directory."""
    text = str(source)
    path = Path(text)
    if text.endswith(".toml") or os.sep in text or path.is_dir():
        if path.suffix == ".toml":
            return SessionStore(path.parent), path.stem
        if path.is_dir() and (path / EVENTS_FILE).exists():
            return SessionStore(path.parent), path.name
        raise DeployError("not a session file nor a session directory", path=path)
    return SessionStore(sessions_dir), text


# --- export -------------------------------------------------------------------------------------------


def render_session(
    source: LiveSession | str | Path,
    *,
    sessions_dir: str | Path = "sessions",
    checklist: Checklist | None = None,
    redactor: Redactor | None = None,
) -> tuple[str, Session]:
    """The record body of a session (a LiveSession, an id in `sessions_dir`, a <id>.toml path or a
    session directory), and the session it was rendered from."""
    if isinstance(source, LiveSession):
        # A snapshot taken under the session's lock: engine workers may apply changes meanwhile, and
        # the (slow) log hashing below must not hold the lock.
        with source._mutex:
            session = copy.deepcopy(source.session)
        session_dir = source.dir
        redactor = redactor or source.redactor
    else:
        store, session_id = resolve_session(source, sessions_dir)
        if not store.exists(session_id):
            raise DeployError(f"no session {session_id} in {store.dir}")
        session = store.load(session_id)
        session_dir = store.session_dir(session_id)
    note = ""
    if checklist is None or checklist.sha256 != session.checklist_sha256:
        checklist, note = _load_checklist(session)
    inputs = record_inputs(session, session_dir, redactor, note)
    return render_record(session, checklist, inputs), session


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
) -> Path:
    """Export a session's record to `path` (atomically), signed as deployer when `sign_key` is given.

    The TUI calls this from its sign-off screen (suspended around it when signing: ssh-keygen may ask
    for a passphrase). SigningError / DeployError say what went wrong in one line.
    """
    text = export_text(source, sign_key, sessions_dir=sessions_dir, checklist=checklist, redactor=redactor,
                       env=env, interactive=interactive)
    target = Path(path)
    atomic_write_text(target, text)
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
    data = parse_record_data(body)
    if not data.signers.get("deployer"):
        raise DeployError("the sign-off names no deployer (Deployed by is empty): fill it in before signing")
    armor = signing.sign(body.encode("utf-8"), sign_key, env=env, interactive=interactive)
    return body + build_trailer("deployer", armor)


def atomic_write_text(target: Path, text: str) -> None:
    """Write via a temp file in the same dir, fsync, rename: a reader never sees half a record."""
    directory = target.parent if str(target.parent) else Path(".")
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
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise DeployError(f"cannot write the record: {exc.strerror}", path=target) from None


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
    data = parse_record_data(parsed.body, target)
    principal = data.signers.get(role, "")
    if not principal:
        what = f"the record's sign-off names no {role}: nobody is expected to sign as {role}"
        raise DeployError(what, path=target)
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
    atomic_write_text(target, add_signature(text, role, armor, target))
    sig = signing.parse_sshsig(armor)
    return SignatureInfo(role, principal, sig.fingerprint, sig.key_type)


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
    path: str | Path, allowed_signers: str | Path, session_dir: str | Path | None = None
) -> VerifyReport:
    """Check a record: structure, canonical body, every signature against allowed_signers for the
    principal its role has in the sign-off, every named role signed; with `session_dir`, the event chain
    and every log file against the hashes in the record. DeployError (exit 2) only for unreadable input;
    anything wrong with the record itself is a problem in the report."""
    target = Path(path)
    allowed = Path(allowed_signers)
    try:
        if not allowed.is_file() or not allowed.read_bytes().strip():
            raise DeployError("no such allowed_signers file, or it is empty", path=allowed)
    except OSError as exc:
        raise DeployError(f"cannot read allowed_signers: {exc.strerror}", path=allowed) from None
    sdir = Path(session_dir) if session_dir is not None else None
    if sdir is not None:
        if sdir.suffix == ".toml":
            sdir = sdir.with_suffix("")
        if not (sdir / EVENTS_FILE).is_file():
            raise DeployError(f"not a session directory (no {EVENTS_FILE})", path=sdir)
    data_bytes = _read_record_bytes(target)

    report = VerifyReport(target)
    try:
        parsed = parse_record(decode_record(data_bytes, target), target)
        data = parse_record_data(parsed.body, target)
    except RecordFormatError as exc:
        report.problems.append(str(exc))
        return report
    report.data = data
    _verify_signatures(report, parsed, data, allowed)
    if sdir is not None:
        _verify_session(report, data, sdir)
    return report


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
        entry.fingerprint, entry.key_type = sig.fingerprint, sig.key_type
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


def _verify_session(report: VerifyReport, data: RecordData, sdir: Path) -> None:
    events_path = sdir / EVENTS_FILE
    try:
        log = read_events(events_path, allow_partial_tail=True)
    except DeployError as exc:
        report.problems.append(f"event log: {exc}")
    else:
        created_id = getattr(log.events[0], "id", None) if log.events else None  # the CreatedEvent's
        if created_id != data.session:
            report.problems.append(f"{sdir} holds session {created_id!r}, the record is of {data.session!r}")
        elif log.count < data.events_count:
            report.problems.append(
                f"event log: {log.count} events, the record counts {data.events_count}: events were removed"
            )
        elif data.events_count and log.hashes[data.events_count - 1] != data.events_head:
            report.problems.append(
                f"event log: event {data.events_count} does not hash to the record's head: "
                "the log was altered"
            )
        else:
            extra = log.count - data.events_count
            report.notes.append(
                f"event chain intact, {data.events_count} events match the record"
                + (f"; {extra} later events (after the export)" if extra else "")
            )
    root = sdir.resolve()
    bad = 0
    for rel, expected in sorted(data.logs.items()):
        path = (sdir / rel).resolve()
        if not path.is_relative_to(root):
            report.problems.append(f"log {rel}: outside the session directory")
            bad += 1
            continue
        try:
            actual = scan_log(path).sha256
        except FileNotFoundError:
            report.problems.append(f"log {rel}: missing")
            bad += 1
            continue
        except OSError as exc:
            report.problems.append(f"log {rel}: cannot read ({exc.strerror})")
            bad += 1
            continue
        if actual != expected:
            report.problems.append(
                f"log {rel}: sha256 {actual[:16]}… differs from the record's {expected[:16]}…"
            )
            bad += 1
    if not bad:
        report.notes.append(f"{len(data.logs)} log files match their hashes")
    extra_logs = [p.relative_to(sdir).as_posix() for p in log_files(sdir)]
    extra_logs = [p for p in extra_logs if p not in data.logs]
    if extra_logs:
        report.notes.append(f"{len(extra_logs)} log files not in the record (written after the export)")


# --- CLI --------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    if args.command == "export":
        return _export(args)
    if args.command == "sign":
        return _sign(args)
    if args.command == "verify":
        return _verify(args)
    raise DeployError(f"unknown record command {args.command!r}")


def _export(args: argparse.Namespace) -> int:
    sessions_dir = getattr(args, "sessions_dir", None) or "sessions"
    text = export_text(args.session, args.sign, sessions_dir=sessions_dir)
    if args.output and args.output != "-":
        target = Path(args.output)
        atomic_write_text(target, text)
        what = "signed as deployer" if args.sign else "unsigned"
        print(f"deploytui: wrote {target} ({what})", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def _sign(args: argparse.Namespace) -> int:
    info = sign_record(args.record, args.key, args.role)
    print(
        f"deploytui: signed {args.record} as {info.role} ({clean_line(info.principal)}) with "
        f"{info.key_type} {info.fingerprint}",
        file=sys.stderr,
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    report = verify_record(args.record, args.allowed_signers, getattr(args, "session", None))
    for line in report.lines():
        print(clean_line(line))
    return 0 if report.ok else 1

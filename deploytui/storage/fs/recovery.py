"""What `deploytui recover` keeps of a damaged session: the longest prefix of the event log that
verifies and that the session file's recorded head (its witness) confirms; what it drops, and why."""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploytui.core.errors import DeployError
from deploytui.core.session import (
    Session,
)
from deploytui.storage.chain import describe, replay
from deploytui.storage.fs.head import HeadRecord, read_head
from deploytui.storage.fs.journal import EventScan, line_hash

if TYPE_CHECKING:
    pass


@dataclass
class Recovery:
    """What `SessionStore.recover` did."""

    session_id: str
    intact: bool
    problem: str = ""
    """The first problem found (file:line: message)."""
    kept_events: int = 0
    dropped_lines: int = 0
    kept_aside: list[Path] = field(default_factory=list)
    """The damaged files, renamed and kept."""
    dropped: list[str] = field(default_factory=list)
    """One line per dropped line of the log: its number and what it was (`line 16: note on pre/api-up
    (seq 16)`, `line 3: unreadable`)."""
    reason: str = ""
    """Why the log was kept up to where it was, and what of it the session file could not confirm."""


@dataclass
class Cut:
    """How many events of a log's valid prefix can be trusted, and why."""

    events: int
    why: str
    confirmed: bool
    """False when the session file's head names no event of the kept log (its tail is unconfirmed)."""


def read_witness(toml_path: Path, session_id: str) -> tuple[Session | None, str]:
    """The session file as a witness of the log (its seq, head and state), or None and why it is not."""
    try:
        snapshot = Session.from_dict(tomllib.loads(toml_path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None, "there is no session file"
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return None, f"the session file cannot be read ({exc})"
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        return None, f"the session file is malformed ({describe(exc)})"
    if snapshot.id != session_id:
        return None, f"the session file holds id {snapshot.id!r}"
    return snapshot, ""


def choose_witness(
    checkpoint: Session | None, unusable: str, record: HeadRecord | None, record_problem: str
) -> tuple[Session | None, str, str]:
    """(witness, why there is none, its name): the session file, unless the head record names a later
    event (the session file is a checkpoint: after a kill the head record is the one that names the log's
    last event). A witness taken from the head record carries only its seq and head."""
    if record is not None and record.seq and (checkpoint is None or record.seq > checkpoint.seq):
        witness = Session()
        witness.seq, witness.head = record.seq, record.head
        return witness, "", HEAD_WITNESS
    if checkpoint is None and record_problem:
        unusable += f", and {record_problem}"
    return checkpoint, unusable, FILE_WITNESS


FILE_WITNESS = "the session file"
HEAD_WITNESS = "the head record"


def read_head_witness(path: Path) -> tuple[HeadRecord | None, str]:
    """The head record, or None and why it is not usable ("" when there is none)."""
    try:
        return read_head(path), ""
    except DeployError as exc:
        return None, f"the head record cannot be read ({exc.message})"


def trusted_prefix(
    scan: EventScan,
    data: bytes,
    witness: Session | None,
    unusable: str,
    path: Path,
    name: str = FILE_WITNESS,
) -> Cut:
    """How much of the valid prefix of a damaged log `recover` keeps.

    - No usable session file: the log is the record, kept up to its first bad line.
    - The session file's head names an event of the log: the log is confirmed up to it (the session file
      was the damaged one). Events after it that chain onto it are kept, as `open` keeps them: a kill
      between writing an event and saving the session file leaves exactly such a tail, and the chain
      cannot tell a line appended later from it (nothing after the last line carries its hash).
    - The log's event `seq` has another hash than the head: it is not the event the session file
      recorded (an altered last line, say). It and every line after it are dropped, unless replaying the
      log up to it gives exactly the session file's state: then it is kept (the head may be what was
      damaged) and the log's tail is unconfirmed.
    - The head names no event of the valid prefix (the log is cut, or broken before it): the longest
      prefix that verifies is kept, its tail unconfirmed.
    In every case a last kept line whose successor claims to follow it but records another hash for it,
    while that successor is itself vouched for (by the next line's `prev` or by the head), was altered:
    it is dropped too, so that the kept log never ends on an altered event.

    `name` says which witness it is: the session file, or the head record (`choose_witness`), which holds
    no state: when its event `seq` has another hash, the state there cannot be compared, and the line is
    dropped with what follows.
    """
    count = scan.log.count
    hashes = scan.log.hashes
    lines = data.split(b"\n")[:-1]
    head = witness.head if witness is not None else ""
    named = hashes.index(head) + 1 if witness is not None and head in hashes else 0
    shown = f"{head[:12]}…" if head else "empty"
    cut = count
    state_known = name == FILE_WITNESS
    if witness is None:
        why = f"{unusable}: the state is rebuilt from the log"
    elif named:
        why = f"the log holds {name}'s recorded head (event {named}): rebuilt from the log"
        if count > named:
            later = (
                f"event {count} chains onto that head but is"
                if count == named + 1
                else f"events {named + 1}-{count} chain onto that head but are"
            )
            why += (
                f"; {later} not in {name}"
                f" (as after a kill between writing an event and saving {name}): kept"
            )
    else:
        seq = witness.seq
        if 1 <= seq <= count:
            replayed, replayed_count, _ = replay(scan.log.events[:seq], path)
            if not state_known:
                cut = seq - 1
                why = (
                    f"event {seq} does not match {name}'s recorded head ({shown}), and the session file is"
                    f" a checkpoint of an earlier event, so the log's state there cannot be compared:"
                    f" line {seq} on is damaged or foreign, dropped"
                )
            elif replayed_count == seq and same_state(witness, replayed):
                why = (
                    f"event {seq} does not match the session file's recorded head ({shown}), but the"
                    " log's state there is the session file's: kept; the log's tail could not be confirmed"
                )
            else:
                cut = seq - 1
                why = (
                    f"event {seq} does not match the session file's recorded head ({shown}) and the"
                    f" log's state there differs from the session file's: line {seq} on is damaged or"
                    " foreign, dropped"
                )
        else:
            why = (
                f"{name}'s recorded head (event {seq}, {shown}) names no event of the"
                f" {count} that verify: kept the longest prefix that verifies; its tail could not be"
                " confirmed"
            )
        elsewhere = [n for n, raw in enumerate(lines, start=1) if line_hash(raw) == head]
        if elsewhere:
            why += f" (the recorded head is line {elsewhere[0]} of the damaged log, after the break)"
    if (witness is None or named) and count < scan.total_lines:
        why += f"; the log does not verify from line {count + 1} on: dropped"
    if cut == count and 0 < count < len(lines) and named != count:
        voucher = _altered_by_successor(lines, count, hashes[count - 1], head, name)
        if voucher:
            cut = count - 1
            why += (
                f"; line {count} was altered: line {count + 1}, vouched for by {voucher}, records another"
                " hash for it: dropped"
            )
    return Cut(cut, why, confirmed=witness is None or named > 0)


def _altered_by_successor(lines: list[bytes], count: int, last_hash: str, head: str, name: str) -> str:
    """What vouches for line count+1, when it claims to follow line `count` (its seq) but records another
    hash for it; "" when nothing does (then line count+1 may be the damaged one)."""
    successor = _event_of(lines[count])
    if successor is None or successor.get("seq") != count + 1:
        return ""
    prev = successor.get("prev")
    if not isinstance(prev, str) or prev == last_hash:
        return ""
    own = line_hash(lines[count])
    if head and own == head:
        return f"{name}'s head"
    if count + 1 < len(lines):
        after = _event_of(lines[count + 1])
        if after is not None and after.get("prev") == own:
            return f"line {count + 2}"
    return ""


def _event_of(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def same_state(snapshot: Session, replayed: Session) -> bool:
    """The session file says what the log says, but for the head."""
    saved, rebuilt = snapshot.to_dict(), replayed.to_dict()
    saved.pop("head", None)
    rebuilt.pop("head", None)
    return same_values(saved, rebuilt)


def dropped_lines(data: bytes, kept: int) -> list[str]:
    """`line N: what it was` for every line of `data` after the first `kept`."""
    lines = data.split(b"\n")
    tail = lines.pop()
    dropped = [f"line {n}: {what_line(raw)}" for n, raw in enumerate(lines[kept:], start=kept + 1)]
    if tail:
        dropped.append(f"line {len(lines) + 1}: {what_line(tail)}, cut short")
    return dropped


_PLAIN_RE = re.compile(r"[A-Za-z0-9._/:#!-]{1,80}")


def what_line(raw: bytes) -> str:
    """An event line as a few safe words: its type, item and seq (quoted and escaped when not plain)."""
    event = _event_of(raw)
    if event is None:
        return "unreadable"
    kind, item, seq = event.get("type"), event.get("item"), event.get("seq")
    what = _plain(kind) if isinstance(kind, str) else "event without a type"
    if isinstance(item, str):
        what += f" on {_plain(item)}"
    if isinstance(seq, int) and not isinstance(seq, bool):
        what += f" (seq {seq})"
    return what


def _plain(text: str) -> str:
    return text if _PLAIN_RE.fullmatch(text) else json.dumps(text[:80], ensure_ascii=True)


def aside_path(path: Path, kind: str, moment: datetime) -> Path:
    """`<name>.<kind>-<time>` beside `path` for a damaged file kept aside: never the name of a file that
    exists (with a fixed clock two recoveries would otherwise get the same name, and one would be lost)."""
    base = f"{path.name}.{kind}-{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    candidate = path.with_name(base)
    n = 2
    while os.path.lexists(candidate):
        candidate = path.with_name(f"{base}-{n}")
        n += 1
    return candidate


def same_values(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (a measured value may be NaN in both the log and the file)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def first_difference(a: Any, b: Any) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(dict.fromkeys([*a, *b])):
            if key not in a or key not in b or not same_values(a[key], b[key]):
                return [str(key), *first_difference(a.get(key), b.get(key))]
    return []



"""The event log, `events.jsonl`: one JSON object a line, each carrying the sha256 of the line before
(`prev`), appended and fsynced before a change is acknowledged. Scanning verifies the chain line by line and
stops at the first garbled, reordered or unlinked line."""

from __future__ import annotations

import contextlib
import hashlib
import json
import json.scanner
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploytui.core.errors import DeployError
from deploytui.core.session import (
    Event,
    EventFormatError,
    decode,
    encode,
)
from deploytui.storage.fs.atomic import FILE_MODE, fsync_dir

if TYPE_CHECKING:
    pass


GENESIS_HASH = "0" * 64
"""The `prev` of the first event line."""

def line_hash(line: bytes) -> str:
    """sha256 of one event line, without its LF: the next line's `prev`."""
    return hashlib.sha256(line).hexdigest()


def event_line(event: Event, prev: str) -> bytes:
    """The line of events.jsonl that records `event` after the line hashing to `prev` (without its LF):
    the event's JSON object (core.session.codec) with `prev` added, keys sorted, ASCII only."""
    record = encode(event)
    record["prev"] = prev
    return json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode("ascii")


# ------------------------------------------------------------------------------------------ event log


@dataclass
class EventLog:
    """What reading events.jsonl found: the events, how many, and the hash of the last line."""

    events: list[Event]
    head: str
    hashes: list[str]
    """hashes[i] is the hash of line i+1."""

    @property
    def count(self) -> int:
        return len(self.events)


@dataclass
class EventScan:
    """The longest valid prefix of an events.jsonl and the first problem after it (None: all valid)."""

    log: EventLog
    lines: list[bytes]
    """The raw lines of the valid prefix, without their LF."""
    problem: DeployError | None
    partial_tail: bytes
    """Bytes after the last LF (a line whose write was cut: never acknowledged)."""
    total_lines: int


def scan_events(
    path: str | Path, data: bytes, *, prev: str = GENESIS_HASH, first: int = 1
) -> EventScan:
    """Verify the chain line by line, stopping at the first garbled, reordered or unlinked line.

    `prev` and `first`: the hash of the line before and the seq of the first line, when `data` continues
    a chain already verified (a follower reading only the new events)."""
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with LF
    events: list[Event] = []
    hashes: list[str] = []
    start = prev
    problem: DeployError | None = None
    texts: list[str] | None = None
    with contextlib.suppress(UnicodeDecodeError):
        texts = data.decode("utf-8").split("\n")  # one decode for the whole log (the common case)
    for number, raw in enumerate(lines, start=first):
        try:
            event = _parse_line(raw, None if texts is None else texts[number - first])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = DeployError(f"garbled event (not JSON: {exc})", path=path, line=number)
            break
        if not isinstance(event, dict):
            problem = DeployError("garbled event (not a JSON object)", path=path, line=number)
            break
        if event.get("prev") != prev:
            where = "the first line" if number == 1 else f"line {number - 1} or {number}"
            problem = DeployError(
                f"hash chain broken: prev does not match the line before ({where} was altered or removed)",
                path=path,
                line=number,
            )
            break
        if event.get("seq") != number:
            problem = DeployError(
                f"event sequence {event.get('seq')!r} where {number} was expected", path=path, line=number
            )
            break
        del event["prev"]
        try:
            typed = decode(event)
        except EventFormatError as exc:
            problem = DeployError(f"malformed event: {exc.message}", path=path, line=number)
            break
        prev = line_hash(raw)
        events.append(typed)
        hashes.append(prev)
    log = EventLog(events, prev if events else start, hashes)
    return EventScan(log, lines[: len(events)], problem, tail, len(lines) + bool(tail))


_SCAN: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
"""json's own C scanner: a line parsed without json.loads' per-call overhead (~35% of the JSON time on
100,000 events)."""


def _parse_line(raw: bytes, text: str | None) -> Any:
    """`json.loads` of one line: the scanner when the line is exactly one value, else json.loads itself
    (so a line that is not gives json.loads' error, or its value when only whitespace was around it)."""
    if text is not None:
        try:
            value, end = _SCAN(text, 0)
        except (StopIteration, ValueError, RecursionError):
            pass
        else:
            if end == len(text):
                return value
    return json.loads(raw.decode("utf-8"))


def read_events(path: Path, *, allow_partial_tail: bool = False) -> EventLog:
    """Parse and verify the event chain. DeployError naming the file and line of the first problem.

    `allow_partial_tail` ignores a last line without its LF: one still being written by the owner (for
    read-only followers), or one whose write a kill cut (never acknowledged; `open` sets it aside).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DeployError("event log missing", path=path) from None
    except OSError as exc:
        raise DeployError(f"cannot read the event log: {exc.strerror}", path=path) from None
    scan = scan_events(path, data)
    if scan.problem is not None:
        raise scan.problem
    if scan.partial_tail and not allow_partial_tail:
        raise DeployError(
            "incomplete last event (the process died while writing it; it was never acknowledged)",
            path=path,
            line=scan.total_lines,
        )
    return scan.log


def verify_chain(path: str | Path) -> tuple[int, str]:
    """(number of events, hash of the last line) of an events.jsonl; DeployError naming a break's line."""
    log = read_events(Path(path))
    return log.count, log.head


class Journal:
    """Appends hash-chained events to events.jsonl, each fsynced before `append` returns."""

    def __init__(self, path: Path, count: int, head: str, *, sync_dir: bool = True) -> None:
        """Open (or create) the log; a new file's name is fsynced in its directory unless `sync_dir` is
        False (the caller fsyncs the directory: a new session's, once, for every name made in it)."""
        self.path = path
        self.count = count
        self.head = head
        created = not path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        if created and sync_dir:
            fsync_dir(path.parent)  # the new name itself must survive a power cut

    def append(self, event: Event, sync: bool = True) -> None:
        """Write the line of one event (`event_line`, chained to the last one), fsynced unless `sync` is
        False (then `sync()` owes it). DeployError on I/O failure."""
        line = event_line(event, self.head)
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(line + b"\n")
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            # Leave no half line behind: the change was not recorded, and the log must stay parseable.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, size)
            raise DeployError(f"could not record the change: {exc.strerror}", path=self.path) from None
        self.count += 1
        self.head = line_hash(line)

    def sync(self) -> None:
        """Every line written so far on disk. OSError as os.fsync raises it."""
        if self._fd >= 0:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1



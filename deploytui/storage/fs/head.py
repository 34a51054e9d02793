"""The head record, `<id>/head.json`: which event the log ends with, witnessed on every change.

The session TOML is a checkpoint, rewritten every CHECKPOINT_EVERY events (and at creation, at finish and
on close), so it no longer says where the log ends. The hash chain cannot vouch for the log's last line
(nothing after it carries its hash), so a small record does, rewritten in place after each event is
fsynced: the count of events (`seq`), the hash of the last one (`head`), and which checkpoint was last
written (`checkpoint`, the seq it reflects, and `checkpoint_sha256`, the sha256 of its bytes: a load whose
session file has those bytes need not parse it to know it agrees with the log, since this writer wrote
it from the log's state).

The record is one JSON object padded with spaces to RECORD_SIZE bytes, LF last, written with one
`pwrite` at offset 0 and fdatasync'd: the file never changes size, and a write that small is never
split by a kill (one syscall) nor by a power cut (one sector). It carries `sum`, the first 16 hex digits of
the sha256 of its other fields, so a damaged record is told from a good one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from deploytui.core.errors import DeployError
from deploytui.storage.fs.atomic import FILE_MODE, fsync_dir

RECORD_SIZE = 256
"""Bytes of head.json, LF included (the longest record is ~230)."""


@dataclass(frozen=True)
class HeadRecord:
    seq: int
    head: str
    checkpoint: int
    checkpoint_sha256: str

    def fields(self) -> dict[str, object]:
        return {
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            "head": self.head,
            "seq": self.seq,
        }

    def to_bytes(self) -> bytes:
        fields = self.fields()
        body = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        record = json.dumps({**fields, "sum": _sum(body)}, sort_keys=True, separators=(",", ":"))
        data = record.encode("ascii")
        if len(data) > RECORD_SIZE - 1:
            raise ValueError(f"head record too long ({len(data)} bytes)")
        return data.ljust(RECORD_SIZE - 1) + b"\n"


def _sum(body: str) -> str:
    return hashlib.sha256(body.encode("ascii")).hexdigest()[:16]


def parse_head(path: Path, data: bytes) -> HeadRecord:
    """The record in `data`; DeployError naming `path` when it is not one this writer wrote whole."""
    try:
        raw = json.loads(data.decode("ascii"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        record = HeadRecord(
            seq=raw["seq"],
            head=raw["head"],
            checkpoint=raw["checkpoint"],
            checkpoint_sha256=raw["checkpoint_sha256"],
        )
        if not (
            all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0
                for v in (record.seq, record.checkpoint)
            )
            and isinstance(record.head, str)
            and isinstance(record.checkpoint_sha256, str)
        ):
            raise ValueError("a field has the wrong type")
        if raw.get("sum") != _sum(json.dumps(record.fields(), sort_keys=True, separators=(",", ":"))):
            raise ValueError("its checksum does not match")
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        message = f"missing key {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise DeployError(f"corrupt head record: {message}", path=path, line=1) from None
    return record


def read_head(path: Path) -> HeadRecord | None:
    """The head record, None when there is none (a session written before it existed, or a kill before
    its first write); DeployError when it cannot be read or is damaged."""
    for attempt in range(READ_ATTEMPTS):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DeployError(f"cannot read the head record: {exc.strerror}", path=path) from None
        if not data:
            return None  # created, and killed before its first write: nothing was acknowledged by it
        try:
            return parse_head(path, data)
        except DeployError:
            if attempt == READ_ATTEMPTS - 1:
                raise
            time.sleep(0.002)  # a reader may see the writer's pwrite half copied: read it again
    raise AssertionError("unreachable")


READ_ATTEMPTS = 3


class HeadWriter:
    """Rewrites head.json in place (one pwrite, fdatasync) after each event."""

    def __init__(self, path: Path, *, sync_dir: bool = True) -> None:
        """`sync_dir=False`: the caller fsyncs the directory (see `Journal`)."""
        self.path = path
        created = not path.exists()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        if created and sync_dir:
            fsync_dir(path.parent)

    def write(self, record: HeadRecord, sync: bool = True) -> None:
        """Rewrite the record, fsynced unless `sync` is False (then `sync()` owes it)."""
        data = record.to_bytes()
        try:
            if os.pwrite(self._fd, data, 0) != len(data):
                raise OSError(0, "short write")
            if os.fstat(self._fd).st_size != len(data):
                os.ftruncate(self._fd, len(data))
                if sync:
                    os.fsync(self._fd)
            elif sync:
                os.fdatasync(self._fd)
        except OSError as exc:
            raise DeployError(
                f"the change is in the event log but its head record could not be written: {exc.strerror}",
                path=self.path,
            ) from None

    def sync(self) -> None:
        """The record written last on disk. OSError as os.fsync raises it."""
        if self._fd >= 0:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

"""Atomic files: a session's TOML is serialised, re-parsed, written to a temp file in the same directory,
fsynced, renamed over the old one, and the directory fsynced; a reader never sees half a file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

if TYPE_CHECKING:
    pass


FILE_MODE = 0o666
"""Mode for session files before the umask: followers (`--read-only`, maybe another user on the jump
box) must be able to read them; secrets are masked before anything is written."""

# ------------------------------------------------------------------------------------------ atomic TOML


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_prefix(target: Path) -> str:
    return f".{target.name}."


class TomlTables:
    """Serialises a session's TOML, re-using the verified text of item tables that did not change.

    A save used to serialise and re-parse the whole session (tomli_w and tomllib are pure Python: ~45 ms
    for 300 items with 1,000 events behind them), though one change touches one or two items. The text
    of `[items."<id>"]` is a pure function of that item's data, so each table's text is kept with the
    `repr` of its data (repr, not ==, because True == 1 == 1.0 yet TOML writes them differently) and
    serialised and re-parsed again only when the repr differs. The document is assembled exactly as
    tomli_w lays it out (the header, a blank line, the item tables separated by blank lines): the bytes
    equal `tomli_w.dumps(data)` (tests/test_store_save_cache.py), and every byte written has been through
    tomllib: the header and each item table parse alone, and item tables have distinct names, so the
    whole parses too.
    """

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        """item id -> (repr of its data, its verified TOML text)."""
        self._notes: dict[str, list[tuple[str, str | None, str]]] = {}
        """item id -> for each of its notes: its repr, its verified inline line (None: too long for
        one) and its verified keys as an array-of-tables entry writes them."""

    def dumps(self, data: Mapping[str, Any], pause: Callable[[], None] | None = None) -> str:
        """TOML text of `data` (the Session.to_dict layout); every new part re-parsed before it is used.
        `pause` is called after each item table (a thread's save that lets others run:
        core.threads.sharing)."""
        items = data.get("items")
        if not isinstance(items, Mapping) or not items or list(data)[-1] != "items":
            self._items = {}
            text = tomli_w.dumps(dict(data))
            tomllib.loads(text)
            return text
        head = tomli_w.dumps({k: v for k, v in data.items() if k != "items"})
        tomllib.loads(head)
        parts = [head]
        kept: dict[str, tuple[str, str]] = {}
        kept_notes: dict[str, list[tuple[str, str | None, str]]] = {}
        for item_id, entry in items.items():
            notes = entry.get("notes") if isinstance(entry, Mapping) else None
            if isinstance(notes, list) and notes:
                inline = self._with_notes(item_id, entry, notes, kept, kept_notes)
                if inline is not None:
                    parts.append(inline)
                    continue
            key = repr(entry)
            cached = self._items.get(item_id)
            if cached is None or cached[0] != key:
                table = tomli_w.dumps({"items": {item_id: entry}})
                tomllib.loads(table)
                cached = (key, table)
            kept[item_id] = cached
            parts.append(cached[1])
            if pause is not None:
                pause()
        self._items = kept
        self._notes = kept_notes
        return "\n".join(parts)

    def _with_notes(
        self,
        item_id: str,
        entry: Mapping[str, Any],
        notes: list[Any],
        kept: dict[str, tuple[str, str]],
        kept_notes: dict[str, list[tuple[str, str | None, str]]],
    ) -> str | None:
        """The table of an item with notes, serialising and re-parsing only the notes not seen before:
        a change used to serialise and re-parse all of an item's notes (~1 s per change at 10,000 notes;
        bench_store.py). None: the caller serialises the item whole, as before.

        tomli_w lays notes out in one of two ways. When every note fits an inline table (a line of at
        most 100 characters), the list is an inline array in the key's place, one `    { … },` line per
        note: the item's text with `notes = []` has that line replaced by the notes' lines. Otherwise
        the list is an array of tables, `[[items."<id>".notes]]` then the note's keys, each after a blank
        line, before the item's other sub-tables (`checks`; the keys before `notes` are never tables):
        the item's text without `notes` has them inserted after its own keys."""
        keys = list(entry)
        before = keys[: keys.index("notes")]
        if any(isinstance(entry[k], Mapping | list) for k in before):
            return None
        old = self._notes.get(item_id, [])
        lines: list[tuple[str, str | None, str]] = []
        fresh: list[str] = []
        tables: list[str] = []
        """The notes not seen before, as inline lines and as array-of-tables entries: each kind re-parsed
        together below (one parse per item and save instead of one or two per note: the first save after
        an open serialises every note of the session, 100,000 at 100,000 events)."""
        for n, note in enumerate(notes):
            note_key = repr(note)
            if n < len(old) and old[n][0] == note_key:
                lines.append(old[n])
                continue
            if not isinstance(note, Mapping) or not all(isinstance(v, str) for v in note.values()):
                return None
            one = tomli_w.dumps({"notes": [note]})
            if one.startswith("notes = [\n"):
                text = one[len("notes = [\n") : -len("]\n")]
                fresh.append(text)
                lines.append((note_key, text, ""))  # its array-of-tables keys: made below when needed
            elif one.startswith(_NOTE_TABLE):
                tables.append(one)
                lines.append((note_key, None, one[len(_NOTE_TABLE) :]))
            else:
                return None
        if fresh:
            tomllib.loads("notes = [\n" + "".join(fresh) + "]\n")
        if tables:
            tomllib.loads("".join(tables))
        all_inline = all(line[1] is not None for line in lines)
        if not all_inline:
            for n, line in enumerate(lines):
                if not line[2]:
                    own = tomli_w.dumps(dict(notes[n]))
                    tomllib.loads(own)
                    lines[n] = (line[0], line[1], own)
        if all_inline:
            rest = {k: ([] if k == "notes" else v) for k, v in entry.items()}
            key = "inline " + repr(rest)
        else:
            rest = {k: v for k, v in entry.items() if k != "notes"}
            key = "tables " + repr(rest)
        cached = self._items.get(item_id)
        if cached is None or cached[0] != key:
            table = tomli_w.dumps({"items": {item_id: rest}})
            tomllib.loads(table)
            cached = (key, table)
        table = cached[1]
        if all_inline:
            if "\nnotes = []\n" not in table:
                return None
            body = "".join(line[1] or "" for line in lines)
            text = table.replace("\nnotes = []\n", f"\nnotes = [\n{body}]\n", 1)
        else:
            header = table[: table.index("\n")]
            if not (header.startswith("[") and header.endswith("]")):
                return None
            name = header[1:-1]
            split = table.find("\n\n[")
            own_keys, tail = (table, "") if split < 0 else (table[: split + 1], table[split + 1 :])
            text = own_keys + "".join(f"\n[[{name}.notes]]\n{line[2]}" for line in lines) + tail
        kept[item_id] = cached
        kept_notes[item_id] = lines
        return text


_NOTE_TABLE = "[[notes]]\n"


def atomic_write_toml(
    target: Path,
    data: Mapping[str, Any],
    tables: TomlTables | None = None,
    pause: Callable[[], None] | None = None,
) -> str:
    """Serialise, re-parse (never write what cannot be read back), temp file, fsync, replace, fsync dir.
    Returns the sha256 of the bytes written (the head record names the checkpoint by it).

    `tables` (one per session file) re-uses the verified text of unchanged item tables (see TomlTables);
    `pause`, called between item tables, lets other threads run (core.threads.sharing)."""
    if tables is not None:
        text = tables.dumps(data, pause)
    else:
        text = tomli_w.dumps(dict(data))
        tomllib.loads(text)
    payload = text.encode("utf-8")
    tmp = target.with_name(f"{_temp_prefix(target)}{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)
    return hashlib.sha256(payload).hexdigest()


def remove_stale_temps(target: Path) -> int:
    """Temp files a killed writer left beside `target` (call only while holding the session's lock)."""
    removed = 0
    prefix = _temp_prefix(target)
    for entry in target.parent.glob(f"{prefix}*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed += 1
    return removed


def write_new(path: Path, payload: bytes) -> None:
    """A new file with `payload`, fsynced (refuses to replace an existing one)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)



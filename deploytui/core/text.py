"""Making untrusted text (command output, server replies, operator notes) safe to show and to embed.

Used by the record (Markdown that must not let output forge its structure) and by the TUI (log panes
and labels that must not let output move the cursor, retitle the window or hide text).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deploytui.core.redact import Redactor

_ANSI_RE = re.compile(
    r"""
    \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?       # OSC: title, hyperlink, clipboard ... ended by BEL or ST
    | \x1b[PX^_][^\x1b]*(?:\x1b\\)?          # DCS / SOS / PM / APC strings, ended by ST
    | \x1b\[[0-?]*[ -/]*[@-~]                # CSI: colours, cursor moves, erase
    | \x1b[ -/]*[0-~]                        # other two-byte escapes (charset selection, RIS, ...)
    | \x9b[0-?]*[ -/]*[@-~]                  # 8-bit CSI
    | \x9d[^\x07\x9c]*(?:\x07|\x9c)?         # 8-bit OSC
    """,
    re.VERBOSE,
)
"""Terminal escape sequences, 7-bit and 8-bit forms."""

_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 (but TAB and LF), DEL and C1 control characters."""

_CONTROL_BUT_CR_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

_INVISIBLE_RE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]")
"""Zero-width and bidirectional formatting characters: they can make shown text differ from the text
(reordered or hidden characters), so untrusted text loses them."""

_LINE_BREAKS_RE = re.compile("[\u2028\u2029\x85\x0b\x0c]")
"""Characters some renderers (and str.splitlines) treat as line breaks: made real LFs, so a line is what
it looks like."""

MAX_LINE_CHARS = 400
"""Longer lines of evidence are cut (with a marker): a record is read by people, the full log is on disk."""

SIGNATURE_MARKER = "<!-- deploytui-signature"
"""How every signature trailer of a record starts (README.md, "The sign-off and the record")."""

ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
ARMOR_END = "-----END SSH SIGNATURE-----"

_MARKER_LIKE_RE = re.compile(
    r"^([ \t]*)(<!--[ \t]*deploytui-signature|-----[ \t]*(?:BEGIN|END) SSH SIGNATURE)", re.IGNORECASE
)
"""A line that starts (after indentation) like a signature marker or an armor line, in any case."""


def strip_ansi(text: str) -> str:
    """Remove terminal escape sequences (CSI, OSC, DCS, ...), leaving the printable text."""
    if "\x1b" not in text and "\x9b" not in text and "\x9d" not in text:
        return text
    return _ANSI_RE.sub("", text)


def _apply_carriage_returns(line: str) -> str:
    """A line redrawn with CR (progress bars) keeps what a terminal would finally show."""
    if "\r" not in line:
        return line
    parts = [p for p in line.split("\r") if p]
    if not parts:
        return ""
    shown = ""
    for part in parts:
        shown = part + shown[len(part):]
    return shown


def clean(text: str) -> str:
    """Multi-line text with escapes and control characters removed: TAB and LF survive, CRLF becomes LF,
    a CR-redrawn line keeps its final look, backspaces and bells vanish, invisible formatting goes."""
    text = strip_ansi(text).replace("\r\n", "\n")
    text = _LINE_BREAKS_RE.sub("\n", text)
    text = _CONTROL_BUT_CR_RE.sub("", text)
    if "\r" in text:
        text = "\n".join(_apply_carriage_returns(line) for line in text.split("\n"))
    return _INVISIBLE_RE.sub("", text)


_DISPLAY_UNSAFE_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
"""Anything a terminal or a renderer would act on rather than show (the fast path skips clean text)."""


def is_display_safe(text: str) -> bool:
    """Whether `text` (any number of lines) holds nothing `display_line` would change: one scan of a
    whole batch of output instead of one check per line."""
    return _DISPLAY_UNSAFE_RE.search(text) is None


def display_line(text: str) -> str:
    """One line of untrusted output for a terminal pane: escapes and control characters removed, a
    CR-redrawn progress bar keeps its final look, never a line break; clean text comes back as is."""
    if not _DISPLAY_UNSAFE_RE.search(text):
        return text
    return clean(text).replace("\n", " ")


def _inert_table() -> dict[int, str]:
    table = {code: chr(0x2400 + code) for code in range(0x20) if code not in (0x09, 0x0A)}
    table[0x7F] = "\u2421"
    for code in range(0x80, 0xA0):
        table[code] = f"\\x{code:02x}"
    for code in [0x2028, 0x2029, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2065),
                 *range(0x2066, 0x206A), 0xFEFF, *range(0xFFF9, 0xFFFC)]:
        table[code] = f"\\u{code:04x}"
    return table


_INERT = _inert_table()


def inert(text: str) -> str:
    """Untrusted text shown as it is but harmless: control characters (but TAB and LF) become visible
    symbols (ESC shows as ␛, NUL as ␀), C1 controls and invisible or bidi formatting as `\\x9b` /
    `\\u202e`. A command shown for confirmation is then exactly the command that runs, and nothing in
    it can move the cursor, retitle the window, write the clipboard or hide part of itself."""
    return text.translate(_INERT)


def clean_line(text: str) -> str:
    """One line of text: `clean`, with line breaks and tabs as single spaces, outer whitespace trimmed."""
    return " ".join(clean(text).replace("\t", " ").split("\n")).strip()


def truncate_lines(text: str, max_chars: int = MAX_LINE_CHARS) -> str:
    """Cut every line longer than `max_chars`, saying how much was cut."""
    out = []
    for line in text.split("\n"):
        if len(line) > max_chars:
            line = f"{line[:max_chars]}… [{len(line) - max_chars} more characters]"
        out.append(line)
    return "\n".join(out)


def tail_lines(text: str, count: int) -> tuple[str, int]:
    """The last `count` lines of `text` (a final LF ends the last line, it adds none), and how many were
    left out."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) <= count:
        return "\n".join(lines), 0
    return "\n".join(lines[-count:]), len(lines) - count


def longest_run(text: str, char: str) -> int:
    """Length of the longest run of `char` in `text`."""
    best = run = 0
    for c in text:
        if c == char:
            run += 1
            best = max(best, run)
        else:
            run = 0
    return best


def fence_for(text: str, char: str = "`") -> str:
    """An opening/closing fence for `text`: at least three `char`, longer than any run of `char` inside,
    so no line of the text can close it (CommonMark: a closing fence is at least as long as the opening)."""
    return char * max(3, longest_run(text, char) + 1)


def escape_marker_line(line: str) -> str:
    """A line that starts like a signature marker or armor line gets a backslash before it, so it is inert
    both to a record parser (that looks for the marker at the start of a line) and to Markdown (`\\<`)."""
    m = _MARKER_LIKE_RE.match(line)
    if not m:
        return line
    return f"{m.group(1)}\\{line[len(m.group(1)):]}"


def is_marker_like(line: str) -> bool:
    return _MARKER_LIKE_RE.match(line) is not None


def fenced(text: str, info: str = "text", indent: str = "") -> str:
    """`text` (cleaned already) as a fenced code block that nothing inside can close, every line indented
    by `indent` (to sit inside a list item), marker-like lines escaped. Empty lines stay empty."""
    fence = fence_for(text)
    lines = [f"{indent}{fence}{info}"]
    for line in text.split("\n"):
        line = escape_marker_line(line.rstrip())
        lines.append(f"{indent}{line}" if line else "")
    lines.append(f"{indent}{fence}")
    return "\n".join(lines)


_INLINE_SPECIAL_RE = re.compile(r"([\\`*\[\]<>&|~])")
_UNDERSCORE_RE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def escape_inline(text: str) -> str:
    """One line of untrusted text as inert Markdown inline content: cleaned, on one line, every character
    that could start emphasis, a link, an HTML tag or comment, a code span, a table cell or an entity
    escaped with a backslash (an `_` inside a word, as in DATABASE_URL, is left alone: it is no emphasis)."""
    text = _INLINE_SPECIAL_RE.sub(r"\\\1", clean_line(text))
    return _UNDERSCORE_RE.sub(r"\\_", text)


def code_span(text: str) -> str:
    """One line of untrusted text as an inline code span, its backtick run longer than any inside."""
    text = clean_line(text)
    if not text:
        return "` `"
    ticks = "`" * (longest_run(text, "`") + 1)
    # CommonMark strips one space each side when both are there: pad so the text survives as it is.
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


# ----------------------------------------------------------------------------- excerpts and reasons

EXCERPT_LINES = 20
"""Lines of output kept as the evidence excerpt of a run (the full output is in the run's log)."""

EXCERPT_LINE_CHARS = 400
"""An evidence line longer than this is cut (with a marker): evidence is a glance, the log has it all."""

REASON_CHARS = 300
"""A reason longer than this is cut where it is shown on one line (a screen, a text report)."""

REASON_KEPT_CHARS = 4000
"""A reason is kept whole up to this length (the session, the JSON and JUnit reports, the record):
cutting is for the screen."""


def cap(line: str, limit: int) -> str:
    """`line` cut to `limit` characters with a marker saying how much was cut."""
    if len(line) <= limit:
        return line
    return line[:limit] + f" …[{len(line) - limit} more chars]"


def excerpt(
    text: str | Iterable[str],
    redactor: Redactor | None = None,
    lines: int = EXCERPT_LINES,
    width: int = EXCERPT_LINE_CHARS,
) -> str:
    """The last `lines` lines of `text` (a string or lines), cleaned, capped and redacted."""
    if isinstance(text, str):
        # Only the tail matters; never split a 10 MB blob into a million lines to keep 20.
        tail = text[-(lines + 1) * (width + 1) * 4 :] if len(text) > 200_000 else text
        all_lines = tail.splitlines()
    else:
        all_lines = list(text)
    kept = [cap(clean(line), width) for line in all_lines[-lines:]]
    out = "\n".join(line.rstrip() for line in kept).strip("\n")
    return redactor.redact(out) if redactor is not None else out


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    """A single clean line: escapes removed, whitespace runs collapsed, capped at `limit`."""
    flat = " ".join(clean(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def plural(n: int, word: str) -> str:
    """`1 change`, `3 changes`: a count with its noun (English -s plurals only)."""
    return f"{n} {word}" + ("" if n == 1 else "s")

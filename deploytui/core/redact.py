"""Masking of secret values in every text that leaves a check: output, reasons, logs, events, records.

A `Redactor` knows each secret value under its name and masks, wherever they occur in a text:
- the value itself, and a value with line breaks (a PEM key) across lines: its lines joined by LF or
  CRLF with an optional indentation (a fenced record, a YAML block), by an escaped `\\n` (JSON, repr),
  by spaces (`one_line`, `tr '\\n' ' '`) or by nothing; and each line of it long enough to be key
  material on its own (a tail cut in the middle of the key, a key re-wrapped);
- its URL-encoded forms, base64 and base64url (alone, padded or not, and inside a longer encoded text
  at any alignment), hex in lower and upper case; for a URL value, its password part and the
  `user:password` of an HTTP Basic header;
- the password of any URL it sees (`scheme://user:PASSWORD@host`), in place, whatever its length: it then
  learns that password (under the name "password") and masks it everywhere after that.

`redact(text)` masks a whole text (every value across its lines). Text that arrives in pieces goes
through a `RedactingStream`, which holds back just enough of the end to mask a value split between two
pieces. Values shorter than MIN_SECRET_LENGTH are never masked: the config refuses them as secrets.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote, urlsplit

MIN_SECRET_LENGTH = 4
"""Shorter values are not masked: masking 'a' or '1' would shred every text and hide nothing. A shorter
value in [secrets] is a config error (deploytui.core.config)."""

MIN_LINE_CHARS = 16
"""A line of a multi-line secret at least this long is also masked on its own (a key's material lines)."""

MIN_ENCODED_CHARS = 8
"""An encoded form (base64, hex) shorter than this is not masked: it would match random encoded text."""

URL_PASSWORD_NAME = "password"
"""The name a password learned from a URL is masked under: `[secret:password]`."""

MAX_LEARNED = 256
"""URL passwords one redactor learns at most (a text full of distinct DSNs must not grow it forever;
past this, a URL's password is still masked in place)."""

_JOIN = r"(?:\r?\n[ \t]{0,16}|\\r?\\n|[ \t]{1,16})?"
"""What may stand between two lines of a multi-line value in a text that holds it."""

_JOIN_MAX = 18
"""The longest text _JOIN matches (CRLF and 16 blanks)."""

_LINE_BREAK_RE = re.compile(r"\r?\n")

_URL_PASSWORD_RE = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://([^\s/?#@:\[\]]*):([^\s/?#]*)@")
"""`scheme://user:password@`: the password runs to the authority's last `@` (as urlsplit reads it)."""

MASK_PREFIX = "[secret:"


def mask(name: str) -> str:
    """What a secret value is replaced with: its name only."""
    return f"{MASK_PREFIX}{name}]"


@dataclass(frozen=True)
class _Block:
    """A value with line breaks: matched across lines by `pattern`; `needle` (its longest line) must
    appear in a text for it to match at all."""

    pattern: re.Pattern[str]
    name: str
    needle: str
    longest: int


@dataclass(frozen=True)
class _Matcher:
    """A redactor's values compiled together (rebuilt when a value is added; read without a lock)."""

    pattern: re.Pattern[str] | None
    literals: dict[str, str]
    blocks: tuple[_Block, ...]
    needles: tuple[str, ...]
    """Some needle occurs in every text the pattern matches: `in` checks are the cheap first pass."""
    longest: int
    """Upper bound on the length of any match."""
    span_lines: int
    """Upper bound on the length of a match that spans a line break (0: no value has one)."""


class Redactor:
    """Replaces every known secret value (and its encoded forms, and URL passwords) with its name."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._literals: dict[str, str] = {}
        self._blocks: list[_Block] = []
        self._names: set[str] = set()
        self._learned: set[str] = set()
        self._pairs: list[tuple[str, str]] = []
        """Every value masked, as it was given or learned, under its name (see `secrets`)."""
        self._matcher: _Matcher | None = None
        for name, value in (secrets or {}).items():
            self.add(name, value)

    # ------------------------------------------------------------------ learning values

    def add(self, name: str, value: str | None) -> None:
        """Mask `value` (and its forms) as `name` from now on. Values shorter than MIN_SECRET_LENGTH
        are not masked (the config refuses them; a URL's short password is still masked in URLs)."""
        if not value:
            return
        with self._lock:
            self._names.add(name)
            self._pairs.append((name, value))
            self._add(name, value)

    def _add(self, name: str, value: str) -> None:
        literals = dict(self._literals)
        for form in _forms(value):
            if len(form) >= MIN_SECRET_LENGTH:
                literals.setdefault(form, name)
        blocks = list(self._blocks)
        lines = _LINE_BREAK_RE.split(value)
        if len(lines) > 1 and len(value) >= MIN_SECRET_LENGTH:
            pattern = re.compile(_JOIN.join(re.escape(line) for line in lines))
            longest = len(value) + (len(lines) - 1) * _JOIN_MAX
            blocks.append(_Block(pattern, name, max(lines, key=len), longest))
        self._literals, self._blocks, self._matcher = literals, blocks, None

    def extend(self, secrets: Iterable[tuple[str, str]]) -> None:
        for name, value in secrets:
            self.add(name, value)

    def learn_urls(self, text: str) -> None:
        """Learn the password of every URL in `text` (a check's parameter, before it is used), so it is
        masked wherever it shows up later: alone, percent-encoded, base64, in a Basic header."""
        if "://" in text and "@" in text:
            self._url_spans(text)

    def _learn_password(self, user: str, password: str) -> None:
        with self._lock:
            if len(self._learned) >= MAX_LEARNED or password in self._learned:
                return
            self._learned.add(password)
            literals = dict(self._literals)
            for form in _basic_auth_forms(unquote(user), unquote(password)):
                literals.setdefault(form, URL_PASSWORD_NAME)
            self._literals, self._matcher = literals, None
            if len(password) >= MIN_SECRET_LENGTH:
                self._pairs.append((URL_PASSWORD_NAME, password))
                self._add(URL_PASSWORD_NAME, password)

    # ------------------------------------------------------------------ what it knows

    @property
    def names(self) -> list[str]:
        """The configured secrets' names (not the passwords learned from URLs)."""
        return sorted(self._names)

    @property
    def values(self) -> list[str]:
        """Every literal form masked (multi-line values are matched by pattern, and listed here whole)."""
        return list(self._literals)

    def secrets(self) -> list[tuple[str, str]]:
        """(name, value) of every value masked, configured or learned from a URL, oldest first: what
        another process needs to mask the same (`Redactor().extend(...)`; sent over a pipe only)."""
        with self._lock:
            return list(self._pairs)

    @property
    def longest(self) -> int:
        """Upper bound on the length of a masked match: the overlap a chunked scan needs."""
        return self._compiled().longest

    def __bool__(self) -> bool:
        return bool(self._literals or self._blocks)

    def _compiled(self) -> _Matcher:
        matcher = self._matcher
        if matcher is not None:
            return matcher
        with self._lock:
            if self._matcher is None:
                self._matcher = _compile(self._literals, tuple(self._blocks))
            return self._matcher

    # ------------------------------------------------------------------ masking

    def redact(self, text: str) -> str:
        """`text` with every secret value masked, across its lines."""
        if not text:
            return text
        spans = self._spans(text)
        return _apply(text, spans, 0, len(text)) if spans else text

    redact_text = redact
    """The name for a whole document (a record, a report): `redact` already masks across lines."""

    def redact_bytes(self, data: bytes) -> bytes:
        text = data.decode("utf-8", "surrogateescape")
        return self.redact(text).encode("utf-8", "surrogateescape")

    def stream(self) -> RedactingStream:
        """A masker for text that arrives in pieces (a run's output)."""
        return RedactingStream(self)

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, mask) of every secret in `text`, in order, not overlapping."""
        url_spans = self._url_spans(text) if "://" in text and "@" in text else []
        matcher = self._compiled()
        spans: list[tuple[int, int, str]] = []
        if matcher.pattern is not None and any(n in text for n in matcher.needles):
            literals = matcher.literals
            for m in matcher.pattern.finditer(text):
                found = m.group(0)
                name = literals.get(found)
                if name is None:
                    name = next((b.name for b in matcher.blocks if b.pattern.fullmatch(found)), "secret")
                spans.append((m.start(), m.end(), mask(name)))
        if url_spans:
            # A URL password that is also a known value is masked by that value's name.
            taken = spans
            spans = sorted(
                taken + [s for s in url_spans if not any(a < s[1] and s[0] < b for a, b, _ in taken)]
            )
        return spans

    def _url_spans(self, text: str) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []
        for m in _URL_PASSWORD_RE.finditer(text):
            password = m.group(2)
            if not password or password.startswith(MASK_PREFIX):
                continue
            if password not in self._literals:
                self._learn_password(m.group(1), password)
            spans.append((m.start(2), m.end(2), mask(URL_PASSWORD_NAME)))
        return spans


def _compile(literals: dict[str, str], blocks: tuple[_Block, ...]) -> _Matcher:
    # Multi-line values first, then longest first: a value containing another is masked whole.
    ordered = sorted(literals, key=len, reverse=True)
    parts = [b.pattern.pattern for b in sorted(blocks, key=lambda b: -b.longest)]
    parts += [re.escape(v) for v in ordered]
    longest = max([len(v) for v in ordered] + [b.longest for b in blocks], default=0)
    return _Matcher(
        pattern=re.compile("|".join(parts)) if parts else None,
        literals=literals,
        blocks=blocks,
        needles=tuple(_minimal_needles([b.needle for b in blocks] + ordered)),
        longest=longest,
        span_lines=max((b.longest for b in blocks), default=0),
    )


def _apply(text: str, spans: list[tuple[int, int, str]], start: int, end: int) -> str:
    """text[start:end] with the spans inside it replaced."""
    out: list[str] = []
    pos = start
    for s, e, replacement in spans:
        if s < pos or e > end:
            continue
        out.append(text[pos:s])
        out.append(replacement)
        pos = e
    out.append(text[pos:end])
    return "".join(out)


class RedactingStream:
    """Masks text that arrives in pieces, so a value split between two pieces is still masked.

    `feed(piece)` answers the masked text up to a line boundary that no value can still span; the rest
    (at most the longest multi-line value, plus a partial last line) is held for the next piece.
    `finish()` answers what is held, masked. Values without line breaks cannot span a line boundary, so
    when no value has one, nothing but a partial last line is ever held.
    """

    LINE_LIMIT = 1024 * 1024
    """A partial line longer than this is released (but its last `longest` characters)."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._held = ""

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def feed(self, piece: str) -> str:
        text = self._held + piece if self._held else piece
        if not text:
            return ""
        matcher = self.redactor._compiled()
        limit = len(text)
        if matcher.span_lines:
            limit -= matcher.span_lines - 1
        cut = text.rfind("\n", 0, max(0, limit)) + 1
        if cut == 0 and len(text) > self.LINE_LIMIT:
            cut = len(text) - matcher.longest
        if cut <= 0:
            self._held = text
            return ""
        spans = self.redactor._spans(text)
        for s, e, _ in reversed(spans):
            if s < cut < e:  # never cut through a match: hold it whole
                line_start = text.rfind("\n", 0, s) + 1
                cut = line_start if line_start or len(text) <= self.LINE_LIMIT else s
        self._held = text[cut:]
        return _apply(text, spans, 0, cut)

    def finish(self) -> str:
        held, self._held = self._held, ""
        return self.redactor.redact(held)


# ---------------------------------------------------------------------------------------- forms


def _forms(value: str) -> set[str]:
    """Every literal form of a value that is masked."""
    found = {value, unquote(value), json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    found |= _percent_forms(value)
    found |= _encoded_forms(value)
    lines = _LINE_BREAK_RE.split(value)
    if len(lines) > 1:
        found |= {line.strip() for line in lines if len(line.strip()) >= MIN_LINE_CHARS}
    if "://" in value:
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            password = None
        if password:
            for pw in {password, unquote(password)}:
                if len(pw) >= MIN_SECRET_LENGTH:
                    found |= {pw} | _percent_forms(pw) | _encoded_forms(pw)
            found |= _basic_auth_forms(unquote(parts.username or ""), unquote(password))
    return {f for f in found if f}


def _percent_forms(value: str) -> set[str]:
    return {quote(value, safe=""), quote(value, safe="/"), quote_plus(value)}


def _encoded_forms(value: str) -> set[str]:
    """hex (both cases), base64 and base64url of the value: alone (padded) and as it reads inside a
    longer encoded text at each of the three byte alignments (only the characters the value decides)."""
    data = value.encode("utf-8", "surrogateescape")
    forms = {data.hex(), data.hex().upper()}
    standalone = base64.b64encode(data).decode()
    forms.add(standalone)
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode().rstrip("=")
        first = -(-8 * offset // 6)
        last = (8 * (offset + len(data))) // 6
        forms.add(encoded[first:last])
    forms |= {f.replace("+", "-").replace("/", "_") for f in forms}
    return {f for f in forms if len(f) >= MIN_ENCODED_CHARS}


def _basic_auth_forms(user: str, password: str) -> set[str]:
    """`user:password` as an HTTP Basic Authorization header carries it (base64)."""
    if not password:
        return set()
    credentials = f"{user}:{password}".encode("utf-8", "surrogateescape")
    standalone = base64.b64encode(credentials).decode()
    return {f for f in (standalone, standalone.rstrip("=")) if len(f) >= MIN_ENCODED_CHARS}


def _minimal_needles(candidates: list[str]) -> list[str]:
    """The candidates without those containing another candidate (the shorter one finds it too)."""
    kept: list[str] = []
    for value in sorted(set(candidates), key=len):
        if value and not any(k in value for k in kept):
            kept.append(value)
    return kept


def mask_url_password(url: str) -> str:
    """`url` as it may be shown: its password (if any) replaced with `***` (a store URL in a message,
    the app's header or a log); the URL is returned unchanged when it has none or does not parse."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{hostport}").geturl()

"""Markdown tokenizing for checklists: markdown-it-py's CommonMark token stream, plus the few helpers
the checklist model needs (front matter, nesting guard, plain text of inline tokens, slugs).

Everything structural comes from the token stream (`Token.map` gives 0-based source line ranges);
nothing here matches whole documents with regexes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.token import Token

from deploytui.core.errors import DeployError

MAX_NESTING = 100
"""Deepest block nesting (token levels: a list level takes two, a block quote one) we parse.
markdown-it silently drops everything after a block nested deeper than its limit, so we raise the
limit from CommonMark's 20 (about 9 list levels) to this and report deeper input as an error instead
of losing content. 100 stays far inside Python's recursion limit (markdown-it recurses per level)."""

SLUG_MAX = 48
"""At most this many characters in one id segment."""

_FRONT_MATTER_OPEN = "---"
_FRONT_MATTER_CLOSE = ("---", "...")


@dataclass
class MarkdownDoc:
    """A parsed document: the token stream and the source lines its `map`s index."""

    tokens: list[Token]
    lines: list[str]
    """Source lines after newline normalisation and front-matter blanking (same numbering as the input)."""
    front_matter: tuple[int, int] | None = None
    """0-based [start, end) lines of the YAML front matter that was blanked, if any."""
    env: dict[str, Any] = field(default_factory=dict)


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF, as markdown-it does, so our line numbers match its maps."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def blank_front_matter(lines: list[str]) -> tuple[int, int] | None:
    """Blank a leading `---` ... `---` (or `...`) YAML block in place, keeping the line count.

    Returns the blanked [start, end) range, or None when the document has no closed front matter
    (a lone `---` on the first line is then an ordinary thematic break)."""
    if not lines or lines[0].rstrip() != _FRONT_MATTER_OPEN:
        return None
    for end in range(1, len(lines)):
        if lines[end].rstrip() in _FRONT_MATTER_CLOSE:
            for i in range(end + 1):
                lines[i] = ""
            return (0, end + 1)
    return None


def _nesting_guard(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """First block rule: notes the first line parsed at the nesting limit (never consumes anything)."""
    if state.level >= MAX_NESTING and not silent:
        state.env.setdefault("too_deep_line", start_line)
    return False


def make_parser() -> MarkdownIt:
    """CommonMark with GFM tables, a raised nesting limit and the guard that reports deeper input."""
    md = MarkdownIt("commonmark").enable("table")
    # Inline content is parsed on demand (see `inline_source_lines`): a checklist needs it only for
    # titles with markup, and parsing every paragraph's inline content up front costs a third of
    # the load time of a large checklist.
    md.disable("inline")
    # One level of slack: content at MAX_NESTING is still parsed (and noted by the guard); only
    # deeper content would be dropped, and then the guard has already recorded where.
    md.options["maxNesting"] = MAX_NESTING + 1
    first_rule = md.block.ruler.__rules__[0].name
    md.block.ruler.before(first_rule, "deploytui_nesting_guard", _nesting_guard)
    return md


_PARSER: MarkdownIt | None = None


def parse_markdown(text: str, path: str | Path | None = None) -> MarkdownDoc:
    """Tokenize `text` (front matter blanked). Raises DeployError only for nesting deeper than
    MAX_NESTING, which markdown-it would otherwise truncate silently."""
    global _PARSER
    if _PARSER is None:
        _PARSER = make_parser()
    lines = normalize_newlines(text).split("\n")
    front = blank_front_matter(lines)
    env: dict[str, Any] = {}
    source = "\n".join(lines) if front else normalize_newlines(text)
    try:
        tokens = _PARSER.parse(source, env)
    except RecursionError:
        # Unreachable with MAX_NESTING far below the recursion limit, unless the caller is itself
        # very deep in the stack; report it as input trouble rather than crash.
        raise DeployError("Markdown nested too deeply to parse", path=path) from None
    if "too_deep_line" in env:
        raise DeployError(
            f"Markdown nested more than {MAX_NESTING} levels deep",
            path=path,
            line=int(env["too_deep_line"]) + 1,
        )
    return MarkdownDoc(tokens=tokens, lines=lines, front_matter=front, env=env)


_INLINE_MARKUP = frozenset("\\`*_[]<>&!")
"""Characters that can start inline markup; text without any of them is its own plain text."""


def _parse_inline(src: str, env: dict[str, Any] | None) -> list[Token]:
    global _PARSER
    if _PARSER is None:
        _PARSER = make_parser()
    # The inline parser proper (the core "inline" rule that would call it is disabled).
    children: list[Token] = []
    _PARSER.inline.parse(src, _PARSER, dict(env or {}), children)
    return children


def _children_lines(children: list[Token]) -> list[str]:
    out: list[str] = []
    parts: list[str] = []
    for child in children:
        kind = child.type
        if kind in ("text", "text_special"):
            parts.append(child.content)
        elif kind == "code_inline":
            tick = "``" if "`" in child.content else "`"
            parts.append(f"{tick}{child.content}{tick}")
        elif kind in ("softbreak", "hardbreak"):
            out.append("".join(parts))
            parts = []
        elif kind == "image":
            parts.append(child.content)
    out.append("".join(parts))
    return out


def inline_source_lines(src: str, env: dict[str, Any] | None = None) -> list[str]:
    """Plain text of inline Markdown source, one string per line (soft/hard breaks split lines).

    Emphasis and link markup drop away, link and image text stay, inline code keeps its backticks
    (it is shown, never run), raw inline HTML is dropped. `env` is the document's env (link
    reference definitions from the block pass). Source without markup characters is returned as is,
    without running the inline parser (most checklist items)."""
    if _INLINE_MARKUP.isdisjoint(src):
        return [line.strip() for line in src.split("\n")]
    return _children_lines(_parse_inline(src, env))


def inline_lines(token: Token, env: dict[str, Any] | None = None) -> list[str]:
    """Plain text lines of an inline token (parsed on demand: the block pass leaves children empty)."""
    if token.children:
        return _children_lines(token.children)
    return inline_source_lines(token.content, env)


def plain(lines: list[str]) -> str:
    """Lines of plain text on one line, whitespace collapsed."""
    return " ".join(" ".join(lines).split())


def plain_text(token: Token, env: dict[str, Any] | None = None) -> str:
    """Plain text of an inline token on one line, whitespace collapsed."""
    return plain(inline_lines(token, env))


def fence_count(doc: MarkdownDoc) -> int:
    """How many fenced code blocks the token stream holds (at any nesting)."""
    return sum(1 for t in doc.tokens if t.type == "fence")


_ASCII_NON_WORD = re.compile(r"[^a-z0-9]+")


def _keep_char(ch: str) -> bool:
    """Letters, combining marks (needed by many scripts) and decimal digits stay in a slug."""
    cat = unicodedata.category(ch)
    return cat[0] in "LM" or cat == "Nd"


def slugify(text: str) -> str:
    """Id segment: lowercase; runs of anything but letters/digits become `-`; trimmed; Unicode
    letters kept (NFC); at most SLUG_MAX characters. May be empty (callers pick a fallback)."""
    lowered = unicodedata.normalize("NFC", text).lower()
    if lowered.isascii():
        slug = _ASCII_NON_WORD.sub("-", lowered).strip("-")
    else:
        chars: list[str] = []
        dash = False
        for ch in lowered:
            if _keep_char(ch):
                if dash and chars:
                    chars.append("-")
                chars.append(ch)
                dash = False
            else:
                dash = True
        slug = "".join(chars)
    if len(slug) > SLUG_MAX:
        slug = slug[:SLUG_MAX].rstrip("-")
    return slug

"""The checklist model: a Markdown checklist as a tree of sections and items with stable ids.

One module of ~660 lines on purpose: the loader is one pass over markdown-it's token stream whose rules
(items, fences, ids, the sign-off form, the rollback procedure) depend on each other's state; split, each
part would need the whole walker's state passed around.

Rules (README.md, "The checklist format"), all read off markdown-it's token stream:

- Top-level headings make sections; a single `#` heading is the checklist's title, not a node.
- Task-list items (`- [ ]`, `* [x]`, `+ [ ]`, any depth) make items; nested task items are children.
  In a heading section without task items, ordered-list entries make items (numbered procedures).
- A heading section that ends up with no children but with fenced blocks is a tickable step
  (kind "item", step=True): runbooks written as `### Step 1: ...`.
- Every fenced block becomes an Action of exactly one node: the innermost item whose list item holds
  it; else the nearest item above it in the section by indentation; else the section; before any
  section, a preamble step named after the title.
- Paragraphs, plain bullets, tables, quotes and indented code are the description of the item whose
  list item holds them, else of the section (before any section: of the checklist).
- The first section whose heading says sign-off/approval and that holds `**Label:** ____` fields (and
  no task items or fences) is the sign-off form, not part of the tree. Without one: a default form.
- Sections whose heading says rollback are the rollback procedure: rollback=True on them and all
  their descendants, outside `items()`.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from markdown_it.token import Token

from deploytui.core.errors import DeployError
from deploytui.core.markdown import (
    MarkdownDoc,
    inline_lines,
    inline_source_lines,
    parse_markdown,
    plain,
    plain_text,
    slugify,
)
from deploytui.core.text import inert, strip_ansi

__all__ = [
    "Action",
    "Checklist",
    "Node",
    "SignoffField",
    "bundled_checklist_path",
    "load_checklist",
    "parse_checklist",
    "slugify",
]

MAX_CHECKLIST_BYTES = 8 * 1024 * 1024
"""Largest checklist file we read. A 5,000-item checklist is about 300 KB; anything near this limit
is not a checklist (a log, a dump) and would only make the app sluggish."""

NodeKind = Literal["section", "item"]
Origin = Literal["heading", "task", "ordered", "preamble"]
FieldKind = Literal["text", "choice", "date", "time", "multiline"]
Role = Literal["deployer", "reviewer"]


@dataclass
class Action:
    """A fenced block: runnable only on the operator's confirmation."""

    node_id: str
    index: int
    """Position among the node's actions, 0-based."""
    lang: str
    """First word of the fence's info string (`bash`), or ""."""
    code: str
    line: int
    """1-based line of the opening fence."""


@dataclass
class Node:
    """A section or an item of the checklist tree."""

    id: str
    title: str
    kind: NodeKind
    depth: int
    """0 for roots."""
    line: int
    """1-based source line of the heading or list item."""
    parent: str | None
    children: list[str] = field(default_factory=list)
    description: str = ""
    actions: list[Action] = field(default_factory=list)
    checked: bool = False
    """Pre-ticked `[x]` in the source (a new session still starts pending)."""
    rollback: bool = False
    """Inside the rollback procedure: outside progress, offered when the result is Rollback."""
    step: bool = False
    """A heading section (or the preamble) with fences and no items: tickable, kind "item"."""
    origin: Origin = "heading"
    """What made the node: a heading, a task-list item, an ordered-list entry, or the preamble."""
    number: str = ""
    """The ordered-list number of an "ordered" node ("1"), else ""."""


@dataclass
class SignoffField:
    """One field of the sign-off form."""

    key: str
    """Slug of the label (`deployed-by`), unique within the form."""
    label: str
    kind: FieldKind
    choices: list[str] = field(default_factory=list)
    line: int | None = None
    """1-based source line, None for the default form."""
    role: Role | None = None


@dataclass
class Checklist:
    """A parsed checklist. `nodes` is in document order; ids are stable while the text is."""

    path: Path | None
    text: str
    sha256: str
    """sha256 of the file's bytes (of the UTF-8 text when parsed from a string)."""
    title: str
    nodes: dict[str, Node]
    roots: list[str]
    signoff: list[SignoffField]
    signoff_default: bool
    """True when the document has no sign-off section and `signoff` is the default form."""
    rollback_id: str | None
    description: str = ""
    """Text before the first section (under the title)."""
    _leaves: dict[str, list[Node]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _leaves_key: tuple[int, int] = field(default=(0, -1), init=False, repr=False, compare=False)

    def node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id!r} in {self.path or 'the checklist'}") from None

    def items(self) -> list[Node]:
        """Tickable items outside the rollback procedure, in document order."""
        return [n for n in self.nodes.values() if n.kind == "item" and not n.rollback]

    def descendants(self, node_id: str) -> list[Node]:
        """Every node under `node_id` (not itself), in document order."""
        out: list[Node] = []
        stack = list(reversed(self.node(node_id).children))
        while stack:
            node = self.nodes[stack.pop()]
            out.append(node)
            stack.extend(reversed(node.children))
        return out

    def leaves_under(self, node_id: str) -> list[Node]:
        """Items without children in the subtree of `node_id` (itself included), document order.

        Remembered per node (a redraw asks for every node's leaves: walking each subtree again made a
        5,000-item tree's rebuild O(items x depth)); forgotten if the nodes dict is replaced or resized."""
        key = (id(self.nodes), len(self.nodes))
        if self._leaves_key != key:
            self._leaves = {}
            self._leaves_key = key
        found = self._leaves.get(node_id)
        if found is None:
            start = self.node(node_id)
            if start.kind == "item" and not start.children:
                found = [start]
            else:
                found = [leaf for child in start.children for leaf in self.leaves_under(child)]
            self._leaves[node_id] = found
        return list(found)

    def actions(self) -> list[Action]:
        """Every action of the checklist, in document order."""
        return [a for n in self.nodes.values() for a in n.actions]


def default_signoff() -> list[SignoffField]:
    """The form for a checklist that has no sign-off section."""
    return [
        SignoffField("deployed-by", "Deployed by", "text", role="deployer"),
        SignoffField("reviewed-by", "Reviewed by", "text", role="reviewer"),
        SignoffField("result", "Result", "choice", choices=["Success", "Rollback"]),
        SignoffField("notes", "Notes", "multiline"),
    ]


_TASK_RE = re.compile(r"^\[([ xX])\](?:[ \t]+|$)")
_SIGNOFF_HEADING_RE = re.compile(r"\bsign[\s_-]*off|\bapprovals?\b", re.IGNORECASE)
_ROLLBACK_HEADING_RE = re.compile(r"\broll[\s_-]*back", re.IGNORECASE)
"""Word starts: "Payroll backend" is not a rollback, "Design offsite" is not a sign-off."""
# `**Label:** rest` / `**Label**: rest` / `__Label:__ rest` on one line of a paragraph's source.
_BOLD_FIELD_RE = re.compile(
    r"^\s*(?:\*\*|__)\s*(?P<label>[^*_\s][^*_]*?)\s*(?::\s*(?:\*\*|__)|(?:\*\*|__)\s*:)\s*(?P<rest>.*)$"
)
# `Label: ____` without bold: accepted only with a blank or a checkbox after the colon.
_PLAIN_FIELD_RE = re.compile(
    r"^\s*(?P<label>[^\W\d_][^:*_\[\]]{0,60}?)\s*:\s*(?P<rest>(?:_{2,}|\[[ xX]\]).*)$"
)
_CHOICE_RE = re.compile(r"\[[ xX]\]\s*([^\[]*)")
_BLANK_RE = re.compile(r"^(?:_{2,}.*|\(.*\))?$")


def _field_from_line(text: str) -> tuple[str, str] | None:
    """(label, rest) when one source line of the sign-off section is a form field."""
    m = _BOLD_FIELD_RE.match(text) or _PLAIN_FIELD_RE.match(text)
    if not m:
        return None
    rest = m.group("rest").strip()
    # A field has a blank to fill or boxes to tick; `**Last Updated:** January 2024` is information.
    if _BLANK_RE.match(rest) or _CHOICE_RE.search(rest):
        return m.group("label").strip(), rest
    return None


def _make_field(label: str, rest: str, line: int, used: set[str]) -> SignoffField:
    lowered = " ".join(label.lower().split())
    choices = [c.strip() for c in _CHOICE_RE.findall(rest) if c.strip()]
    kind: FieldKind
    if choices:
        kind = "choice"
    elif re.search(r"\bnotes?\b|\bcomments?\b|\bremarks?\b", lowered):
        kind = "multiline"
    elif re.search(r"\bdate\b", lowered):
        kind = "date"
    elif re.search(r"\btime\b", lowered):
        kind = "time"
    else:
        kind = "text"
    role: Role | None = None
    if "deployed by" in lowered or "deployer" in lowered:
        role = "deployer"
    elif any(w in lowered for w in ("reviewed by", "approved by", "reviewer", "approver")):
        role = "reviewer"
    base = slugify(label) or "field"
    key, n = base, 2
    while key in used:
        key, n = f"{base}-{n}", n + 1
    used.add(key)
    return SignoffField(key=key, label=label, kind=kind, choices=choices, line=line, role=role)


@dataclass
class _Segment:
    """The tokens from one top-level heading (or the document start) to the next."""

    start: int
    """Token index of the heading_open (0 for the preamble)."""
    level: int
    """Heading level; 0 for the preamble."""
    heading: bool
    title: str = ""
    has_task: bool = False
    has_fence: bool = False
    signoff: bool = False


def _is_task(tokens: list[Token], i: int) -> bool:
    """Whether the list_item_open at `i` starts with a task-list marker."""
    return (
        i + 2 < len(tokens)
        and tokens[i + 1].type == "paragraph_open"
        and tokens[i + 2].type == "inline"
        and _TASK_RE.match(tokens[i + 2].content) is not None
    )


def _segments(tokens: list[Token], env: dict[str, Any]) -> tuple[list[_Segment], dict[int, _Segment], int]:
    """First pass: cut the document at top-level headings; note task items and fences per segment."""
    segs = [_Segment(start=0, level=0, heading=False)]
    by_start: dict[int, _Segment] = {}
    h1 = 0
    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind == "heading_open" and tok.level == 0:
            level = int(tok.tag[1:]) if tok.tag[1:].isdigit() else 1
            h1 += level == 1
            seg = _Segment(start=i, level=level, heading=True, title=plain_text(tokens[i + 1], env))
            segs.append(seg)
            by_start[i] = seg
        elif kind == "list_item_open":
            if _is_task(tokens, i):
                segs[-1].has_task = True
        elif kind == "fence":
            segs[-1].has_fence = True
    return segs, by_start, h1


def _signoff_fields(
    doc: MarkdownDoc, segs: list[_Segment], title_start: int | None
) -> list[SignoffField]:
    """Pick the sign-off region (marking its segments) and read its fields."""
    tokens = doc.tokens
    for k, seg in enumerate(segs):
        if not seg.heading or seg.start == title_start or not _SIGNOFF_HEADING_RE.search(seg.title):
            continue
        end = k + 1
        while end < len(segs) and segs[end].level > seg.level:
            end += 1
        region = segs[k:end]
        if any(s.has_task or s.has_fence for s in region):
            continue  # an "Approvals" section with tasks or commands is an ordinary section
        stop = segs[end].start if end < len(segs) else len(tokens)
        fields: list[SignoffField] = []
        used: set[str] = set()
        for idx in range(seg.start, stop):
            tok = tokens[idx]
            # Heading text (`## Sign-off` itself) is never a field.
            if tok.type != "inline" or tok.map is None or tokens[idx - 1].type == "heading_open":
                continue
            for offset, src in enumerate(tok.content.split("\n")):
                found = _field_from_line(src)
                if found:
                    fields.append(_make_field(found[0], found[1], tok.map[0] + offset + 1, used))
        if fields:
            for s in region:
                s.signoff = True
            return fields
    return []


class _Builder:
    """Second pass: walk the token stream once and build nodes (linear in the number of tokens)."""

    def __init__(self, doc: MarkdownDoc) -> None:
        self.doc = doc
        self.nodes: dict[str, Node] = {}
        self.roots: list[str] = []
        self.used: dict[str | None, set[str]] = {}
        self.next_suffix: dict[tuple[str | None, str], int] = {}
        self.desc: dict[str | None, list[tuple[int, int]]] = {}
        self.rollback_id: str | None = None
        self.preamble: Node | None = None

    # ids ---------------------------------------------------------------------------------------------
    def _unique(self, parent: str | None, base: str) -> str:
        used = self.used.setdefault(parent, set())
        if base not in used:
            used.add(base)
            return base
        n = self.next_suffix.get((parent, base), 2)
        while True:
            suffix = f"-{n}"
            cand = base[: 48 - len(suffix)].rstrip("-") + suffix
            n += 1
            if cand not in used:
                break
        self.next_suffix[(parent, base)] = n
        used.add(cand)
        return cand

    def add(
        self,
        parent: Node | None,
        title: str,
        kind: NodeKind,
        line: int,
        origin: Origin,
        *,
        checked: bool = False,
        rollback: bool = False,
        number: str = "",
    ) -> Node:
        base = slugify(title) or ("section" if origin in ("heading", "preamble") else "item")
        pid = parent.id if parent else None
        seg = self._unique(pid, base)
        node = Node(
            id=f"{pid}/{seg}" if pid else seg,
            title=title,
            kind=kind,
            depth=parent.depth + 1 if parent else 0,
            line=line,
            parent=pid,
            checked=checked,
            rollback=rollback or (parent.rollback if parent else False),
            origin=origin,
            number=number,
        )
        self.nodes[node.id] = node
        if parent:
            parent.children.append(node.id)
        else:
            self.roots.append(node.id)
        if node.rollback and origin == "heading" and self.rollback_id is None:
            self.rollback_id = node.id
        return node

    def describe(self, owner: Node | None, tok: Token) -> None:
        if tok.map is not None and tok.map[1] > tok.map[0]:
            self.desc.setdefault(owner.id if owner else None, []).append((tok.map[0], tok.map[1]))

    def attach(self, owner: Node, tok: Token) -> None:
        info = tok.info.strip()
        owner.actions.append(
            Action(
                node_id=owner.id,
                index=len(owner.actions),
                lang=info.split()[0] if info else "",
                code=tok.content,
                line=(tok.map[0] + 1) if tok.map else owner.line,
            )
        )

    def description_text(self, ranges: list[tuple[int, int]]) -> str:
        lines = self.doc.lines
        out: list[str] = []
        prev_end: int | None = None
        for start, end in ranges:
            if prev_end is not None and start > prev_end:
                out.append("")
            out.extend(line.rstrip() for line in lines[start:end])
            prev_end = end
        return textwrap.dedent("\n".join(out)).strip("\n")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def parse_checklist(text: str, path: str | Path | None = None, *, sha256: str | None = None) -> Checklist:
    """Build the checklist tree from Markdown text. Never raises for any text, except DeployError for
    nesting deeper than markdown.MAX_NESTING (which the parser would otherwise truncate).

    `sha256` is the digest of the file's bytes when the caller read a file (see load_checklist)."""
    path = Path(path) if path is not None else None
    if text.startswith("\ufeff"):
        text = text[1:]
    doc = parse_markdown(text, path)
    tokens = doc.tokens
    segs, seg_at, h1_count = _segments(tokens, doc.env)
    title_seg = next((s for s in segs if s.heading and s.level == 1), None) if h1_count == 1 else None
    title_start = title_seg.start if title_seg else None
    if title_seg and title_seg.title:
        title = title_seg.title
    else:
        title = path.stem if path is not None else "Checklist"
    signoff = _signoff_fields(doc, segs, title_start)

    b = _Builder(doc)
    lines = doc.lines
    section: Node | None = None
    """The heading node whose own content we are in (None: before any section)."""
    section_stack: list[tuple[int, Node]] = []
    item_stack: list[Node] = []
    """Item nodes of the list items we are inside, innermost last."""
    frames: list[bool] = []
    """For each open list item: whether it made a node (pushed on item_stack)."""
    ordered_stack: list[bool] = []
    recent: list[tuple[int, Node]] = []
    """Items of the current section by marker indentation, increasing: where a loose fence goes."""
    ordered_items = not segs[0].has_task
    """Whether ordered-list entries make items in the current segment (it has no task items)."""
    skipping = False
    """Inside the sign-off region: its content is the form, not nodes."""
    n = len(tokens)
    i = 0
    while i < n:
        tok = tokens[i]
        kind = tok.type
        if kind == "heading_open" and tok.level == 0:
            seg = seg_at[i]
            close = i + 2
            recent = []
            item_stack = []
            frames = []
            ordered_stack = []
            ordered_items = not seg.has_task
            skipping = seg.signoff
            if skipping:
                i = close + 1
                continue
            if i == title_start:
                section, section_stack = None, []
                i = close + 1
                continue
            while section_stack and section_stack[-1][0] >= seg.level:
                section_stack.pop()
            parent = section_stack[-1][1] if section_stack else None
            section = b.add(
                parent,
                seg.title,
                "section",
                (tok.map[0] + 1) if tok.map else 1,
                "heading",
                rollback=_ROLLBACK_HEADING_RE.search(seg.title) is not None,
            )
            section_stack.append((seg.level, section))
            i = close + 1
            continue
        if skipping:
            i += 1
            continue
        owner = item_stack[-1] if item_stack else section
        if kind in ("bullet_list_open", "ordered_list_open"):
            ordered_stack.append(kind == "ordered_list_open")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            if ordered_stack:
                ordered_stack.pop()
        elif kind == "list_item_open":
            made = False
            is_task = _is_task(tokens, i)
            in_ordered = bool(ordered_stack and ordered_stack[-1])
            if is_task or (in_ordered and ordered_items):
                line0 = tok.map[0] if tok.map else 0
                has_para = i + 2 < n and tokens[i + 1].type == "paragraph_open"
                para = tokens[i + 2] if has_para and tokens[i + 2].type == "inline" else None
                checked = False
                item_title = ""
                if para is not None and is_task:
                    m = _TASK_RE.match(para.content)
                    if m is not None:
                        checked = m.group(1) in "xX"
                        item_title = plain(inline_source_lines(para.content[m.end() :], doc.env))
                elif para is not None:
                    first_lines = inline_lines(para, doc.env)
                    item_title = " ".join(first_lines[0].split()) if first_lines else ""
                number = tok.info if in_ordered and not is_task else ""
                if not item_title and number:
                    item_title = f"Step {number}"
                node = b.add(
                    owner,
                    item_title,
                    "item",
                    line0 + 1,
                    "task" if is_task else "ordered",
                    checked=checked,
                    number=number,
                )
                indent = _indent(lines[line0]) if line0 < len(lines) else 0
                while recent and recent[-1][0] >= indent:
                    recent.pop()
                recent.append((indent, node))
                item_stack.append(node)
                made = True
                if para is not None:
                    # The first paragraph is the title; for ordered entries only its first line is.
                    pmap = tokens[i + 1].map
                    if not is_task and pmap is not None and pmap[1] - pmap[0] > 1:
                        b.desc.setdefault(node.id, []).append((pmap[0] + 1, pmap[1]))
                    frames.append(made)
                    i += 4  # list_item_open, paragraph_open, inline, paragraph_close
                    continue
            frames.append(made)
        elif kind == "list_item_close":
            if frames and frames.pop() and item_stack:
                item_stack.pop()
        elif kind == "fence":
            target = owner if item_stack else None
            if target is None and recent:
                col = _indent(lines[tok.map[0]]) if tok.map and tok.map[0] < len(lines) else 0
                target = recent[0][1]
                for ind, cand in reversed(recent):
                    if ind <= col:
                        target = cand
                        break
            if target is None:
                target = section
            if target is None:
                if b.preamble is None:
                    b.preamble = b.add(None, title, "item", (tok.map[0] + 1) if tok.map else 1, "preamble")
                    b.preamble.step = True
                target = b.preamble
            b.attach(target, tok)
        elif kind in ("paragraph_open", "code_block", "html_block", "hr"):
            b.describe(owner, tok)
        elif kind in ("table_open", "heading_open"):
            # A table, or a heading inside a list or quote: one description block; skip its inner tokens.
            b.describe(owner, tok)
            closer = "table_close" if kind == "table_open" else "heading_close"
            level = tok.level
            i += 1
            while i < n and not (tokens[i].type == closer and tokens[i].level == level):
                i += 1
        i += 1

    # Heading sections that got fences but no children are steps (runbooks).
    for node in b.nodes.values():
        if node.origin == "heading" and not node.children and node.actions:
            node.kind = "item"
            node.step = True
    for owner_id, ranges in b.desc.items():
        text_desc = b.description_text(ranges)
        if owner_id is None:
            continue
        b.nodes[owner_id].description = text_desc
    checklist_desc = b.description_text(b.desc[None]) if None in b.desc else ""

    # Titles, descriptions and labels end up on a terminal and in records: colour and cursor codes go,
    # any other control character becomes a visible symbol. Ids were made from the source text above,
    # so they do not change; fenced code is kept byte for byte (it is what runs; displays make it inert).
    for node in b.nodes.values():
        node.title = _shown(node.title)
        node.description = _shown(node.description)
    for signoff_field in signoff:
        signoff_field.label = _shown(signoff_field.label)
        signoff_field.choices = [_shown(choice) for choice in signoff_field.choices]
    title = _shown(title)
    checklist_desc = _shown(checklist_desc)

    if sha256 is None:
        sha256 = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return Checklist(
        path=path,
        text=text,
        sha256=sha256,
        title=title,
        nodes=b.nodes,
        roots=b.roots,
        signoff=signoff or default_signoff(),
        signoff_default=not signoff,
        rollback_id=b.rollback_id,
        description=checklist_desc,
    )


def _shown(text: str) -> str:
    """Untrusted checklist text made safe to show: escape sequences removed, other controls visible."""
    return inert(strip_ansi(text))


def load_checklist(path: str | Path) -> Checklist:
    """Read and parse a checklist file; DeployError naming the file (and line) on bad input."""
    p = Path(path)
    try:
        if p.is_dir():
            raise DeployError("is a directory, not a checklist file", path=p)
        with p.open("rb") as fh:
            data = fh.read(MAX_CHECKLIST_BYTES + 1)
    except FileNotFoundError:
        raise DeployError("no such checklist file", path=p) from None
    except PermissionError:
        raise DeployError("cannot read checklist: permission denied", path=p) from None
    except IsADirectoryError:
        raise DeployError("is a directory, not a checklist file", path=p) from None
    except OSError as exc:
        raise DeployError(f"cannot read checklist: {exc.strerror or exc}", path=p) from None
    if len(data) > MAX_CHECKLIST_BYTES:
        raise DeployError(
            f"too large for a checklist (over {MAX_CHECKLIST_BYTES // (1024 * 1024)} MiB)", path=p
        )
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise DeployError("binary data (NUL byte), not a Markdown checklist", path=p, line=line)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DeployError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x})", path=p, line=data.count(b"\n", 0, exc.start) + 1
        ) from None
    return parse_checklist(text, p, sha256=hashlib.sha256(data).hexdigest())


def bundled_checklist_path() -> Path:
    """The checklist shipped with deploytui (the seed rag-chatbot deployment)."""
    return Path(str(resources.files("deploytui") / "checklists" / "rag-chatbot.md"))

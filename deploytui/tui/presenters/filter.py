"""The filter language of `/`: words match a node's title or id; `is:STATUS` (or `status:STATUS`, or a
bare status name) matches an item's status. Every word must match; matching nodes are shown with their
ancestors, so the tree keeps its shape."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from deploytui.core.checklist import Checklist, Node
from deploytui.core.session import Session
from deploytui.core.status import Status

STATUS_FILTER_PREFIXES = ("status:", "is:")
"""Filter tokens that select by status (`is:failed`); a bare status name also matches."""

_STATUSES = frozenset(s.value for s in Status)


@dataclass(frozen=True)
class Query:
    """A filter query parsed once (per keystroke, not per node): its words, and for each word the status
    it requires (`is:failed`), or None for a text word."""

    words: tuple[str, ...]
    required: tuple[str | None, ...]

    @classmethod
    def parse(cls, query: str) -> Query:
        words = tuple(query.lower().split())
        required: list[str | None] = []
        for word in words:
            prefix = next((p for p in STATUS_FILTER_PREFIXES if word.startswith(p)), None)
            required.append(word[len(prefix) :] if prefix is not None else None)
        return cls(words, tuple(required))

    @property
    def text_only(self) -> bool:
        """No word can match by status (no `is:`, no bare status name): what matches depends on titles
        and ids alone, and a query typed on from this one matches a subset (see Matcher)."""
        return all(r is None and w not in _STATUSES for w, r in zip(self.words, self.required, strict=True))

    def narrows(self, before: Query) -> bool:
        """Every node this query matches, `before` matched too: both are text only and each earlier word
        is inside the word in its place ("step 1" after "step ", "step" after "ste")."""
        return (
            self.text_only
            and before.text_only
            and len(self.words) >= len(before.words)
            and all(old in new for old, new in zip(before.words, self.words, strict=False))
        )


def haystack(node: Node) -> str:
    """What a text word is looked for in."""
    return f"{node.title} {node.id}".lower()


def direct_matches(
    checklist: Checklist,
    session: Session,
    query: Query,
    candidates: Iterable[Node] | None = None,
    haystacks: dict[str, str] | None = None,
) -> list[str]:
    """Ids of the nodes the query itself matches (ancestors not added), in document order: an item when
    every word matches its text or status; a section when every word is in its text. `candidates`: only
    these nodes are looked at (default: all)."""
    words, required, text_only = query.words, query.required, query.text_only
    nodes = checklist.nodes.values() if candidates is None else candidates
    if text_only and words and haystacks is not None:
        # Titles and ids alone: a node (item or section) matches when every word is in its text.
        if len(words) == 1:
            word = words[0]
            return [node.id for node in nodes if word in haystacks[node.id]]
        return [node.id for node in nodes if all(w in haystacks[node.id] for w in words)]
    found: list[str] = []
    for node in nodes:
        text = haystacks[node.id] if haystacks is not None else haystack(node)
        item = node.kind == "item"
        status: str | None = None
        if item and not text_only:
            status = session.status_of(node.id, checklist).value
        ok = True
        for word, wanted in zip(words, required, strict=True):
            if wanted is not None:
                ok = status == wanted
            else:
                ok = word in text or (word in _STATUSES and status == word)
            if not ok:
                break
        if ok and (item or words and all(w in text for w in words)):
            found.append(node.id)
    return found


def with_ancestors(checklist: Checklist, node_ids: Iterable[str]) -> set[str]:
    nodes = checklist.nodes
    visible: set[str] = set()
    add = visible.add
    for node_id in node_ids:
        current: str | None = node_id
        while current is not None and current not in visible:
            add(current)
            current = nodes[current].parent
    return visible


def matching_ids(checklist: Checklist, session: Session, query: str) -> set[str]:
    """Ids of nodes matching every word of the query (text in title/id, or a status), plus ancestors."""
    return with_ancestors(checklist, direct_matches(checklist, session, Query.parse(query)))


def first_match(checklist: Checklist, session: Session, query: str) -> str | None:
    """The first node matching the query itself (not only as an ancestor of a match), in the tree's
    order: the document's, with the rollback procedure last (where the tree shows it)."""
    matches = set(direct_matches(checklist, session, Query.parse(query)))
    rollback = checklist.rollback_id
    under_rollback: set[str] = set()
    if rollback is not None:
        under_rollback = {rollback, *(d.id for d in checklist.descendants(rollback))}
    in_tree_order = [i for i in checklist.nodes if i not in under_rollback] + [
        i for i in checklist.nodes if i in under_rollback
    ]
    return next((i for i in in_tree_order if i in matches), None)


class Matcher:
    """`matching_ids` for a query typed one key at a time: each query is parsed once, the nodes' texts are
    lowered once, and a query that narrows the previous one (typed on, no status words) looks only at
    the nodes the previous one matched. The answers are `matching_ids`'s (tests/unit/test_presenters.py)."""

    def __init__(self, checklist: Checklist) -> None:
        self.checklist = checklist
        self._haystacks = {node_id: haystack(node) for node_id, node in checklist.nodes.items()}
        self._last: tuple[Query, list[str]] | None = None

    def matching_ids(self, session: Session, query: str) -> set[str]:
        parsed = Query.parse(query)
        if self._last is not None and parsed.narrows(self._last[0]):
            before, matched = self._last
            # The previous matches hold every earlier word: only the words that changed are looked for
            # ("12" after "step 1"; "step" again in 5,000 titles was most of such a keystroke).
            old = before.words
            changed = [w for i, w in enumerate(parsed.words) if i >= len(old) or w != old[i]]
            haystacks = self._haystacks
            if not changed:
                found = matched
            elif len(changed) == 1:
                word = changed[0]
                found = [i for i in matched if word in haystacks[i]]
            else:
                found = [i for i in matched if all(w in haystacks[i] for w in changed)]
        else:
            found = direct_matches(self.checklist, session, parsed, None, self._haystacks)
        self._last = (parsed, found)
        return with_ancestors(self.checklist, found)

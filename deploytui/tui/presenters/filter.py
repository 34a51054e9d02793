"""The filter language of `/`: words match a node's title or id; `is:STATUS` (or `status:STATUS`, or a
bare status name) matches an item's status. Every word must match; matching nodes are shown with their
ancestors, so the tree keeps its shape."""

from __future__ import annotations

from collections.abc import Iterator

from deploytui.core.checklist import Checklist
from deploytui.core.session import Session
from deploytui.core.status import Status

STATUS_FILTER_PREFIXES = ("status:", "is:")
"""Filter tokens that select by status (`is:failed`); a bare status name also matches."""


def matching_ids(checklist: Checklist, session: Session, query: str) -> set[str]:
    """Ids of nodes matching every word of the query (text in title/id, or a status), plus ancestors."""
    visible: set[str] = set()
    for node_id in _matches(checklist, session, query):
        current: str | None = node_id
        while current is not None and current not in visible:
            visible.add(current)
            current = checklist.node(current).parent
    return visible


def first_match(checklist: Checklist, session: Session, query: str) -> str | None:
    """The first node matching the query itself (not only as an ancestor of a match), in the tree's
    order: the document's, with the rollback procedure last (where the tree shows it)."""
    matches = set(_matches(checklist, session, query))
    rollback = checklist.rollback_id
    under_rollback: set[str] = set()
    if rollback is not None:
        under_rollback = {rollback, *(d.id for d in checklist.descendants(rollback))}
    in_tree_order = [i for i in checklist.nodes if i not in under_rollback] + [
        i for i in checklist.nodes if i in under_rollback
    ]
    return next((i for i in in_tree_order if i in matches), None)


def _matches(checklist: Checklist, session: Session, query: str) -> Iterator[str]:
    """Ids of the nodes that match every word themselves, in document order."""
    statuses = {s.value for s in Status}
    words = query.lower().split()
    for node in checklist.nodes.values():
        status = session.status_of(node.id, checklist).value if node.kind == "item" else None
        haystack = f"{node.title} {node.id}".lower()
        ok = True
        for word in words:
            for prefix in STATUS_FILTER_PREFIXES:
                if word.startswith(prefix):
                    ok = status == word[len(prefix) :]
                    break
            else:
                ok = word in haystack or (word in statuses and status == word)
            if not ok:
                break
        if ok and (node.kind == "item" or words and all(w in haystack for w in words)):
            yield node.id

"""The filter language of `/`: words match a node's title or id; `is:STATUS` (or `status:STATUS`, or a
bare status name) matches an item's status. Every word must match; matching nodes are shown with their
ancestors, so the tree keeps its shape."""

from __future__ import annotations

from deploytui.core.checklist import Checklist
from deploytui.core.session import Session
from deploytui.core.status import Status

STATUS_FILTER_PREFIXES = ("status:", "is:")
"""Filter tokens that select by status (`is:failed`); a bare status name also matches."""


def matching_ids(checklist: Checklist, session: Session, query: str) -> set[str]:
    """Ids of nodes matching every word of the query (text in title/id, or a status), plus ancestors."""
    statuses = {s.value for s in Status}
    words = query.lower().split()
    visible: set[str] = set()
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
            current: str | None = node.id
            while current is not None and current not in visible:
                visible.add(current)
                current = checklist.node(current).parent
    return visible

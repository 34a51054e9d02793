"""How far each node of a checklist is: complete leaves over all leaves, for every node in one pass.

    done, total = progress_counts(session, checklist)[node_id]

A node counts the leaves under it that share its rollback flag (a section of the deployment does not count
the rollback procedure's items nested in it, and the other way round), as the TUI's tree and detail show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deploytui.core.session.state import Session

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist


def progress_counts(session: Session, checklist: Checklist) -> dict[str, tuple[int, int]]:
    """node id -> (complete, total) leaves under it (itself included) with its rollback flag.

    Children come after their parent in document order, so one walk backwards sums each node's children
    before the node (asking `leaves_under` per node walked every subtree again: O(nodes x depth))."""
    # Per node: [done, total] of its non-rollback leaves, then of its rollback leaves.
    sums: dict[str, list[int]] = {}
    for node_id in reversed(list(checklist.nodes)):
        node = checklist.nodes[node_id]
        if node.children:
            acc = [0, 0, 0, 0]
            for child in node.children:
                part = sums[child]
                acc[0] += part[0]
                acc[1] += part[1]
                acc[2] += part[2]
                acc[3] += part[3]
        elif node.kind == "item":
            done = 1 if session.status_of(node_id, checklist).is_complete else 0
            acc = [0, 0, done, 1] if node.rollback else [done, 1, 0, 0]
        else:
            acc = [0, 0, 0, 0]
        sums[node_id] = acc
    return {
        node_id: (part[2], part[3]) if checklist.nodes[node_id].rollback else (part[0], part[1])
        for node_id, part in sums.items()
    }

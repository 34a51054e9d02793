"""What "re-run what failed" runs again, and what the engine needs to know of earlier results.

Pure queries over a Session (the faces call them: the TUI's `F` key and palette entry, and
`deploytui check --failed SESSION`):

    keys = rerun_keys(session)                      # every check whose latest result did not cleanly pass
    keys = rerun_keys(session, under=["pre-deployment/database-ready"], checklist=checklist)
    specs = [s for s in config.checks if s.key in keys]
    await engine.run_many(specs, on_event, known=latest_statuses(session))

`latest_statuses` lets the engine judge an `after` dependency that is not in the run by its latest result.
`needs_rerun` answers "would `F` run anything here?" for every node at once (the TUI's footer asks it on
every cursor move; `rerun_keys` walks the whole session per question).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from deploytui.core.session.state import Session
from deploytui.core.status import RERUN, Status

if TYPE_CHECKING:
    from deploytui.core.checklist import Checklist


def rerun_keys(
    session: Session, under: Iterable[str] | None = None, checklist: Checklist | None = None
) -> list[str]:
    """Check keys (`<item>#<index>`) whose latest result is failed, error, blocked, interrupted or flaky,
    in the session's item order. `under`: only items at or below these node ids (sections need the
    checklist; without it an id matches itself and the items nested under it)."""
    wanted = _under(session, under, checklist) if under is not None else None
    keys: list[str] = []
    for item_id, state in session.items.items():
        if state.orphan or (wanted is not None and item_id not in wanted):
            continue
        keys.extend(key for key, check in state.checks.items() if check.status in RERUN)
    return keys


def needs_rerun(
    session: Session, checklist: Checklist, keys: Collection[str] | None = None
) -> frozenset[str]:
    """Ids of the nodes under which re-running what failed has something to run: every item with a
    check whose latest result is in RERUN (only checks in `keys` count, when given: e.g. the runnable
    ones), and its ancestors, scoped as a re-run under a node is (`runnable_checks`): a rollback item's
    checks count for the rollback nodes above it only. One pass over the session, for all nodes."""
    found: set[str] = set()
    for item_id, state in session.items.items():
        if state.orphan or item_id not in checklist.nodes:
            continue
        if not any(
            check.status in RERUN and (keys is None or key in keys) for key, check in state.checks.items()
        ):
            continue
        rollback = checklist.node(item_id).rollback
        current: str | None = item_id
        while current is not None:
            node = checklist.node(current)
            if node.rollback or not rollback:
                found.add(current)
            current = node.parent
    return frozenset(found)


def latest_statuses(session: Session) -> dict[str, Status]:
    """Check key -> the status of its latest run (a running check says running)."""
    return {key: check.status for state in session.items.values() for key, check in state.checks.items()}


def _under(session: Session, node_ids: Iterable[str], checklist: Checklist | None) -> set[str]:
    found: set[str] = set()
    for node_id in node_ids:
        if checklist is not None and node_id in checklist.nodes:
            found.add(node_id)
            found.update(n.id for n in checklist.descendants(node_id))
            continue
        stack = [node_id] if node_id in session.items else []
        while stack:
            current = stack.pop()
            found.add(current)
            stack.extend(session.children_of(current))
    return found

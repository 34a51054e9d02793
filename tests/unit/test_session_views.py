"""The per-node views computed once per session change for the whole tree: progress and re-run scope.
Each equals, node by node, the per-node question it replaces."""

from __future__ import annotations

from deploytui.core.checklist import parse_checklist
from deploytui.core.session import (
    RunFinished,
    RunStarted,
    Session,
    Tick,
    needs_rerun,
    progress_counts,
    rerun_keys,
)
from deploytui.core.status import Outcome, Status

TEXT = """# Release

## Prepare

- [ ] Build
  - [ ] Tag
  - [ ] Push tag
- [ ] Probe api
- [ ] Review

### Roll back the schema

- [ ] Restore dump

## Roll back

- [ ] Revert deploy
  - [ ] Probe old
"""
AT = "2030-01-02T03:04:05.000Z"


def _session() -> tuple[object, Session]:
    checklist = parse_checklist(TEXT, "release.md")
    session = Session.new("s1", checklist, "ana", "box", at=AT)
    session.apply(Tick("prepare/build/tag", "ana"), at=AT)
    for item, status in (
        ("prepare/probe-api", Status.FAILED),
        ("prepare/review", Status.PASSED),
        ("roll-back/revert-deploy/probe-old", Status.ERROR),
    ):
        session.apply(RunStarted(item, f"{item}#0", f"r-{item}", kind="http"), at=AT)
        session.apply(RunFinished(item, f"{item}#0", f"r-{item}", Outcome(status, "x"), kind="http"), at=AT)
    schema = next(n.id for n in checklist.nodes.values() if n.title == "Restore dump")
    session.apply(RunStarted(schema, f"{schema}#0", "r-s", kind="http"), at=AT)
    session.apply(RunFinished(schema, f"{schema}#0", "r-s", Outcome(Status.FAILED, "x"), kind="http"), at=AT)
    return checklist, session


def test_progress_of_every_node_in_one_pass_equals_counting_its_leaves() -> None:
    checklist, session = _session()
    counts = progress_counts(session, checklist)  # type: ignore[arg-type]
    for node in checklist.nodes.values():  # type: ignore[attr-defined]
        leaves = [n for n in checklist.leaves_under(node.id) if n.rollback == node.rollback]  # type: ignore[attr-defined]
        done = sum(1 for n in leaves if session.status_of(n.id, checklist).is_complete)  # type: ignore[arg-type]
        assert counts[node.id] == (done, len(leaves)), node.id
    assert counts["prepare"] == (2, 4)


def test_nodes_needing_a_rerun_are_those_under_which_rerun_keys_finds_a_check() -> None:
    checklist, session = _session()
    found = needs_rerun(session, checklist)  # type: ignore[arg-type]
    for node in checklist.nodes.values():  # type: ignore[attr-defined]
        under = set(rerun_keys(session, [node.id], checklist))  # type: ignore[arg-type]
        if not node.rollback:  # a re-run under a deployment node leaves the rollback procedure alone
            under = {k for k in under if not checklist.node(k.split("#")[0]).rollback}  # type: ignore[attr-defined]
        assert (node.id in found) == bool(under), node.id
    assert "prepare" in found and "roll-back" in found and "prepare/build" not in found
    # Only the given check keys count (the screen passes the runnable ones).
    assert needs_rerun(session, checklist, {"prepare/probe-api#0"}) == {"prepare", "prepare/probe-api"}  # type: ignore[arg-type]

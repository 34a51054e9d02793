"""Session.children_of answers from an index (status_of visited every item per node: 9 s to open a
5,000-item checklist); the index must follow every change of the items' shape."""

from __future__ import annotations

from deploytui.core.checklist import parse_checklist
from deploytui.core.session import Rebase, Session, Tick, item_specs
from deploytui.core.status import Status

BEFORE = """# D

## S

- [ ] Parent
  - [ ] Child
- [ ] Other
"""

AFTER = """# D

## S

- [ ] Parent
- [ ] Other
  - [ ] Child
"""


def test_children_and_statuses_follow_a_rebase_that_moves_an_item() -> None:
    before = parse_checklist(BEFORE, "c.md")
    session = Session.new("s1", before, "alice", "host")
    parent, child, other = (n.id for n in before.items())
    assert session.children_of(parent) == [child]
    session.apply(Tick(child, "alice"))
    assert session.status_of(parent, before) is Status.DONE
    after = parse_checklist(AFTER, "c.md")
    session.apply(Rebase("c.md", after.sha256, after.title, item_specs(after)))
    moved = next(n.id for n in after.items() if n.title == "Child")  # ids are paths: a new id
    assert moved != child and session.items[child].orphan
    assert session.children_of(parent) == []
    assert session.children_of(other) == [moved]
    assert session.status_of(parent, after) is Status.PENDING
    session.apply(Tick(moved, "alice"))
    assert session.status_of(other, after) is Status.DONE  # derived from its one child


def test_children_follow_a_session_rebuilt_from_its_toml() -> None:
    checklist = parse_checklist(BEFORE, "c.md")
    session = Session.new("s1", checklist, "alice", "host")
    parent, child, _other = (n.id for n in checklist.items())
    assert session.children_of(parent) == [child]
    loaded = Session.from_dict(session.to_dict())
    assert loaded.children_of(parent) == [child]
    assert loaded == session

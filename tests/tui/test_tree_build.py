"""The checklist tree's own line builder (no recursive closure, see ChecklistTree._build) lays out exactly
what Textual's Tree._build does: the same lines in the same order, the same widths, the same cursor."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Tree

from deploytui.core.checklist import Checklist, parse_checklist
from deploytui.core.status import Status
from deploytui.tui.widgets.checklist_tree import ChecklistTree, NodeView

TEXT = """# Release

## Prepare

- [ ] Build
  - [ ] Tag
    - [ ] Push tag
  - [ ] Sign
- [ ] Probe api

## Ship

- [ ] Deploy

## Roll back

- [ ] Revert
"""


def tree_app(checklist: Checklist, checks: dict[str, int] | None = None) -> App[None]:
    """An app showing only a ChecklistTree of `checklist` (`checks`: bound checks per item)."""

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield ChecklistTree(checklist, checks or {}, id="tree")

    return Host()


def _layout(tree: ChecklistTree) -> tuple[list[tuple[str | None, bool, int]], int, int, int]:
    lines = [(line.node.data, line.last, len(line.path)) for line in tree._tree_lines]
    return lines, tree.virtual_size.width, tree.virtual_size.height, tree.cursor_line


async def test_the_tree_lines_equal_textuals_build_filtered_or_not() -> None:
    checklist = parse_checklist(TEXT, "release.md")

    app = tree_app(checklist, {"prepare/probe-api": 2})
    async with app.run_test(size=(60, 20)) as pilot:
        tree = app.query_one(ChecklistTree)
        for visible in (None, {"prepare", "prepare/build", "prepare/build/sign"}, None):
            tree.build(lambda _node_id: NodeView(Status.PENDING, (0, 1)), {}, visible)
            assert tree.select_id("prepare/build/sign")
            await pilot.pause()
            tree._build()
            ours = _layout(tree)
            Tree._build(tree)
            assert _layout(tree) == ours
            shown = [data for data, _last, _depth in ours[0]]
            if visible is None:
                assert shown[:3] == ["prepare", "prepare/build", "prepare/build/tag"] and len(shown) == 9
            else:
                assert shown == sorted(visible)


async def test_a_filter_relinking_the_shown_parents_only_shows_what_a_fresh_build_shows() -> None:
    """A filter relinks only the parents it shows (a hidden one is relinked when it shows again): after
    any sequence of filters the tree lists what a tree built afresh with the last filter lists."""
    checklist = parse_checklist(TEXT, "release.md")
    sequence: list[set[str] | None] = [
        None,
        {"prepare", "prepare/build", "prepare/build/sign"},
        {"ship", "ship/deploy"},
        {"prepare", "prepare/build", "prepare/build/tag", "prepare/build/tag/push-tag"},
        {"prepare", "prepare/build"},
        None,
        {"prepare", "prepare/build", "prepare/build/sign", "prepare/probe-api"},
    ]

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield ChecklistTree(checklist, {}, id="reused")
            yield ChecklistTree(checklist, {}, id="fresh")

    def view(_node_id: str) -> NodeView:
        return NodeView(Status.PENDING, (0, 1))

    app = Host()
    async with app.run_test(size=(60, 30)) as pilot:
        reused = app.query_one("#reused", ChecklistTree)
        for visible in sequence:
            reused.build(view, {}, visible)
            fresh = ChecklistTree(checklist, {})
            await app.mount(fresh)
            fresh.build(view, {}, visible)
            await pilot.pause()
            lines = [(line.node.data, line.last, len(line.path)) for line in reused._tree_lines]
            assert lines == [(line.node.data, line.last, len(line.path)) for line in fresh._tree_lines]
            await fresh.remove()


async def test_a_render_pass_works_out_the_tree_style_once_and_draws_what_textual_draws() -> None:
    """Tree.render_line asks for `rich_style` (a walk over the ancestors' styles) on every line: ours asks
    once per render_lines pass, and the lines are the ones Textual's own render_line draws."""
    from textual.geometry import Region

    checklist = parse_checklist(TEXT, "release.md")

    app = tree_app(checklist, {"prepare/probe-api": 2})
    async with app.run_test(size=(60, 20)) as pilot:
        tree = app.query_one(ChecklistTree)
        tree.build(lambda _node_id: NodeView(Status.PENDING, (0, 1)), {})
        await pilot.pause()
        asked = 0
        prop = Tree.rich_style  # DOMNode.rich_style

        class Counting(ChecklistTree):
            @property
            def rich_style(self):  # type: ignore[no-untyped-def]
                nonlocal asked
                asked += 1
                return prop.fget(self)

        tree._line_cache.clear()
        tree._styles_cache.clear()
        tree.__class__ = Counting
        try:
            width, height = tree.size
            ours = tree.render_lines(Region(0, 0, width, height))
        finally:
            tree.__class__ = ChecklistTree
        assert asked == 1
        tree._line_cache.clear()
        tree._styles_cache.clear()
        theirs = [Tree.render_line(tree, y) for y in range(height)]
        assert [strip.text for strip in ours] == [strip.text for strip in theirs]
        assert "Push tag" in "".join(strip.text for strip in ours)


async def test_a_style_update_redraws_the_lines_without_building_them_again() -> None:
    """The stylesheet applied to a new tree (every first frame) and a theme change update the tree's
    styles: Textual's Tree built its lines again for it (~20-35 ms on 5,000 items); the lines are the
    same, only how they look changes."""
    checklist = parse_checklist(TEXT, "release.md")

    app = tree_app(checklist)
    async with app.run_test(size=(60, 20)) as pilot:
        tree = app.query_one(ChecklistTree)
        tree.build(lambda _node_id: NodeView(Status.PENDING, (0, 1)), {})
        await pilot.pause()
        lines = tree._tree_lines
        before = tree.render_lines(tree.region.reset_offset)
        app.theme = "textual-light" if app.current_theme.dark else "textual-dark"
        await pilot.pause()
        assert tree._tree_lines is lines
        after = tree.render_lines(tree.region.reset_offset)
        assert [strip.text for strip in after] == [strip.text for strip in before]
        assert [list(strip) for strip in after] != [list(strip) for strip in before]  # the new colours

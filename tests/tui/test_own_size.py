"""Widgets whose size their column sets (the filter field, the checklist tree): their content changing
repaints them and moves their scrollbars, without laying out the whole screen (OwnSize)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from deploytui.core.checklist import parse_checklist
from deploytui.core.status import Status
from deploytui.tui.widgets.checklist_tree import ChecklistTree, NodeView
from deploytui.tui.widgets.own_size import FilterInput
from tests.support.pilot_support import screen_layouts

CHECKLIST = "# Release\n\n## Prepare\n\n" + "".join(f"- [ ] Step {n}\n" for n in range(40))


class Host(App[None]):
    CSS = "#tree { height: 1fr; } #filter { height: 1; border: none; }"

    def compose(self) -> ComposeResult:
        yield Static("above")
        yield FilterInput(id="filter")
        yield ChecklistTree(parse_checklist(CHECKLIST, "release.md"), {}, id="tree")


async def test_typing_into_the_filter_lays_out_nothing_and_keeps_the_cursor_in_view() -> None:
    """Textual's Input sets its virtual size to its text's width on every keystroke, a layout of the
    whole screen before the filter ran (7-11 ms of a keystroke on 5,000 items; bench_scale.py)."""
    app = Host()
    async with app.run_test(size=(30, 12)) as pilot:
        field = app.query_one(FilterInput)
        field.focus()
        await pilot.pause()
        typed = "is:failed deploy production api"
        # The first keystroke past the field's width shows its (zero-width) scrollbar: that lays out once.
        for char in typed[:28]:
            await pilot.press(char if char != " " else "space")
        await pilot.pause()
        with screen_layouts() as layouts:
            for char in typed[28:] + "ary":
                await pilot.press(char if char != " " else "space")
                await pilot.pause()
        assert layouts == []
        typed += "ary"
        assert field.value == typed
        assert field.virtual_size.width > field.content_region.width  # longer than the field
        assert field.scroll_x > 0  # scrolled to keep the cursor at the end in view
        shown = "".join(strip.text for strip in field.render_lines(field.region.reset_offset))
        assert "apiary" in shown and "is:failed" not in shown


async def test_a_filtered_rebuild_repaints_the_tree_and_its_scrollbar_only() -> None:
    """A rebuild (each filter keystroke that changes what matches) changes the tree's line count: Textual
    laid the screen out for it (20-40 ms on 5,000 items); the tree's own size is its column's."""
    app = Host()
    async with app.run_test(size=(30, 12)) as pilot:
        tree = app.query_one(ChecklistTree)

        def view(_node_id: str) -> NodeView:
            return NodeView(Status.PENDING, (0, 1))

        tree.build(view, {})
        await pilot.pause()
        assert tree.show_vertical_scrollbar and tree.virtual_size.height == 41
        size = tree.size
        with screen_layouts() as layouts:
            tree.build(view, {}, {"prepare", *(f"prepare/step-{n}" for n in range(20))})
            await pilot.pause()
        assert layouts == []
        assert tree.size == size
        assert tree.virtual_size.height == 21 and tree.vertical_scrollbar.window_virtual_size == 21
        shown = "".join(strip.text for strip in tree.render_lines(tree.region.reset_offset))
        assert "Step 1" in shown and "Step 25" not in shown
        # Few enough lines to fit: the scrollbar goes, and that (its own reactive) does lay out.
        tree.build(view, {}, {"prepare", "prepare/step-3"})
        await pilot.pause()
        assert not tree.show_vertical_scrollbar and tree.virtual_size.height == 2

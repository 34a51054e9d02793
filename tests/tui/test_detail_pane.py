"""The detail pane shows another node without laying out the screen: its head keeps its height from node
to node, and its body draws its own lines and scrolls inside a fixed size (bench_streaming.py: each
cursor rest laid the whole screen out, 20-57 ms, while a run streamed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Static

from deploytui.tui.widgets.detail_pane import DetailPane, DetailView, RenderedLines, SteadyStatic
from tests.support.pilot_support import screen_layouts


class Host(App[None]):
    CSS = "DetailPane { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield Static("above")
        yield DetailPane(id="detail")


def view(title: str, lines: int) -> DetailView:
    head = Text(f"○ {title}  pending\n{title.lower()}  ·  line 5")
    return DetailView(head, Text("\n".join(f"{title} line {n}" for n in range(lines))))


def shown(widget: RenderedLines | SteadyStatic) -> list[str]:
    return [strip.text.rstrip() for strip in widget.render_lines(widget.region.reset_offset)]


@asynccontextmanager
async def showing(
    first: DetailView, node_id: str | None = None
) -> AsyncIterator[tuple[Pilot[None], DetailPane, RenderedLines]]:
    """A 50x14 app whose pane shows `first`: (pilot, pane, its body)."""
    app = Host()
    async with app.run_test(size=(50, 14)) as pilot:
        pane = app.query_one(DetailPane)
        pane.show(first, node_id)
        await pilot.pause()
        yield pilot, pane, pane.query_one(RenderedLines)


async def test_another_node_repaints_the_pane_and_lays_out_nothing() -> None:
    async with showing(view("Build", 3)) as (pilot, pane, body):
        head = pane.query_one(SteadyStatic)
        assert head.size.height == 2 and not body.show_vertical_scrollbar
        with screen_layouts() as layouts:
            pane.show(view("Deploy", 2))
            await pilot.pause()
            pane.show(view("Notify", 5))
            await pilot.pause()
        assert layouts == []
        assert shown(head)[0].startswith("○ Notify")
        assert [line for line in shown(body) if line] == [f"Notify line {n}" for n in range(5)]
        assert body.virtual_size.height == 5


async def test_a_long_body_scrolls_under_the_head_and_starts_at_its_top() -> None:
    async with showing(view("Build", 40)) as (pilot, pane, body):
        assert body.show_vertical_scrollbar and body.vertical_scrollbar.window_virtual_size == 40
        body.scroll_to(y=20, animate=False, immediate=True)
        await pilot.pause()
        assert shown(body)[0] == "Build line 20"
        assert shown(pane.query_one(SteadyStatic))[0].startswith("○ Build")  # the head stays in view
        with screen_layouts() as layouts:
            pane.show(view("Deploy", 45))
            await pilot.pause()
        assert layouts == []
        assert body.scroll_y == 0 and shown(body)[0] == "Deploy line 0"
        assert body.vertical_scrollbar.window_virtual_size == 45


async def test_a_head_of_another_height_lays_out_and_is_shown_whole() -> None:
    async with showing(view("Build", 3)) as (pilot, pane, body):
        taller = DetailView(Text("○ Build  done\nbuild  ·  line 5\ndone by alice at 09:01:02"), Text("body"))
        with screen_layouts() as layouts:
            pane.show(taller)
            await pilot.pause()
        assert layouts  # the head grew: the pane's parts move
        head = pane.query_one(SteadyStatic)
        assert head.size.height == 3 and shown(head)[2] == "done by alice at 09:01:02"
        assert pane.shown[1].plain == "body"  # type: ignore[union-attr]


async def test_the_body_is_drawn_again_at_a_new_width() -> None:
    async with showing(DetailView(Text("head"), Text("word " * 30))) as (pilot, pane, body):
        narrow = body.virtual_size.height
        await pilot.resize_terminal(100, 14)
        await pilot.pause()
        assert body.virtual_size.height < narrow
        assert all(len(line) <= body.size.width for line in shown(body))


async def test_the_same_node_redrawn_stays_where_it_was_scrolled_to() -> None:
    """A run's events redraw the selected node's detail while the operator reads its history: the body
    stays where they scrolled to; another node starts at its top."""
    async with showing(view("Build", 40), "build") as (pilot, pane, body):
        body.scroll_to(y=20, animate=False, immediate=True)
        await pilot.pause()
        pane.show(view("Build", 41), "build")  # one more history line
        await pilot.pause()
        assert body.scroll_y == 20 and shown(body)[0] == "Build line 20"
        pane.show(view("Deploy", 40), "deploy")
        await pilot.pause()
        assert body.scroll_y == 0 and shown(body)[0] == "Deploy line 0"


async def test_a_drag_over_the_body_selects_its_text() -> None:
    # The body draws its own lines: without offsets on them the screen could not tell where the mouse
    # was, and a reason or a log path could not be selected to copy.
    async with showing(view("Build", 6)) as (pilot, pane, body):
        await pilot.mouse_down(body, offset=(6, 1))
        await pilot.hover(body, offset=(10, 3))
        await pilot.mouse_up(body, offset=(10, 3))
        await pilot.pause()
        assert pilot.app.screen.get_selected_text() == "line 1\nBuild line 2\nBuild line "
        selected = pilot.app.screen.get_component_rich_style("screen--selection")
        row = body.render_line(2)
        assert any(seg.style is not None and seg.style.bgcolor == selected.bgcolor for seg in row)

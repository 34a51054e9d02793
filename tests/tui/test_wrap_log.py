"""The run pane's log: lines appended repaint it and move its scrollbar, without laying out the screen."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from deploytui.tui.widgets.wrap_log import WrapLog
from tests.support.pilot_support import screen_layouts


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("above")
        yield WrapLog(id="log")


async def test_appending_lines_lays_out_nothing_and_keeps_the_scrollbar_true() -> None:
    """Textual's Log lays out the whole screen for every batch whose line count changes the virtual size;
    a key pressed while a run streamed waited for those layouts (bench_streaming.py)."""
    app = LogApp()
    async with app.run_test(size=(60, 12)) as pilot:
        log = app.query_one(WrapLog)
        log.write_lines([f"line {n}" for n in range(50)])
        await pilot.pause()
        assert log.show_vertical_scrollbar
        with screen_layouts() as layouts:
            for batch in range(5):
                log.write_lines([f"more {batch}.{n}" for n in range(20)])
                await pilot.pause()
        assert layouts == []
        assert log.virtual_size.height == 150
        assert log.vertical_scrollbar.window_virtual_size == 150
        assert log.is_vertical_scroll_end  # it followed the end
        assert "more 4.19" in "".join(strip.text for strip in log.render_lines(log.region.reset_offset))
        log.wrap = True
        await pilot.pause()
        assert log.virtual_size.height >= 150
        assert log.vertical_scrollbar.window_virtual_size == log.virtual_size.height
        log.clear()
        await pilot.pause()
        assert log.virtual_size.height == 0 and log.vertical_scrollbar.window_virtual_size == 0

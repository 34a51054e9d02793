"""The live log panes: the selected item's latest run, and the activity of the whole session."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

from rich.console import Group
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult, RenderResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.renderables.bar import Bar
from textual.widget import Widget

from deploytui.core.text import display_line
from deploytui.tui.presenters.runs import RUN_LOG_MAX_LINES, RunBuffer  # noqa: F401 (re-exported)
from deploytui.tui.widgets.wrap_log import WrapLog

ACTIVITY_MAX_LINES = 10_000
"""Lines kept in the activity pane."""

FLUSH_SECONDS = 0.1
"""How often streamed output reaches the run pane. Between flushes lines wait in a bounded queue."""

FLUSH_MAX_LINES = 500
"""Most lines one flush writes: a flood then costs ~5,000 rendered lines a second however fast it arrives,
which keeps keys quick. The pane is refilled from the run's buffer when the run ends."""

TAIL_BYTES = 512 * 1024
"""How much of a finished run's log file is read back when its item is selected."""


def read_tail(path: Path, max_lines: int = RUN_LOG_MAX_LINES, max_bytes: int = TAIL_BYTES) -> list[str]:
    """The last lines of a log file without reading a huge file whole."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            start = max(0, size - max_bytes)
            fh.seek(start)
            data = fh.read()
    except OSError as exc:
        return [f"(log not readable: {exc.strerror or exc})"]
    lines = data.decode("utf-8", errors="replace").splitlines()
    if start > 0 and lines:
        lines = [f"… (earlier output in {path})", *lines[1:]]
    return lines[-max_lines:]


def read_appended(path: Path, offset: int, max_bytes: int = TAIL_BYTES) -> tuple[list[str], int]:
    """The whole lines appended to a log file since `offset`, and the offset after the last of them (a
    line still being written waits for its newline). Beyond `max_bytes` only the newest are read, and a
    first line says how many bytes were passed over (all of them are in the file)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size <= offset:
                return [], min(offset, size)
            start = max(offset, size - max_bytes)
            fh.seek(start)
            data = fh.read(size - start)
    except OSError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset if start == offset else start
    lines = data[:end].decode("utf-8", errors="replace").split("\n")
    if start > offset:
        lines = [f"… ({start - offset:,} bytes not shown: all are in {path})", *lines[1:]]
    return lines, start + end + 1


TABS = (("tab-run", "Run"), ("tab-activity", "Activity"))
"""The log panes' tabs: (id, label)."""


def _spans() -> tuple[tuple[str, int, int], ...]:
    out, x = [], 0
    for tab_id, label in TABS:
        out.append((tab_id, x, x + len(label) + 2))
        x += len(label) + 2
    return tuple(out)


SPANS = _spans()
"""(id, first cell, cell after the last) of each tab's label, padded by a cell on either side."""


class LogTabs(Widget):
    """The two tabs' labels and the bar under the active one, drawn by one widget. Textual's TabbedContent
    took ten widgets for them (tabs, their scroll container, list and bar, a widget per tab, underline,
    switcher, a pane per tab): ~25 ms of a ~95 ms first frame here (benchmarks/bench_startup.py). A click
    on a label posts `Selected`; the panes are the two logs themselves, shown one at a time."""

    DEFAULT_CSS = """
    LogTabs {
        height: 2;
        & > .log-tabs--tab { color: $foreground 50%; }
        & > .log-tabs--active { color: $foreground; }
        & > .log-tabs--bar { color: $block-cursor-background; background: $foreground 10%; }
        &:ansi {
            & > .log-tabs--tab { text-style: dim; }
            & > .log-tabs--active { text-style: not dim bold; }
            & > .log-tabs--bar { color: $block-cursor-background; background: $border-blurred; }
        }
    }
    """

    COMPONENT_CLASSES = {"log-tabs--tab", "log-tabs--active", "log-tabs--bar"}
    ALLOW_SELECT = False

    active: reactive[str] = reactive(TABS[0][0])
    hovered: reactive[str] = reactive("")

    class Selected(Message):
        """A tab's label was clicked."""

        def __init__(self, tab_id: str) -> None:
            super().__init__()
            self.tab_id = tab_id

    def tab_at(self, x: int) -> str:
        return next((tab_id for tab_id, start, end in SPANS if start <= x < end), "")

    def render(self) -> RenderResult:
        row = Text()
        plain = self.get_component_rich_style("log-tabs--tab")
        lit = self.get_component_rich_style("log-tabs--active")
        for tab_id, label in TABS:
            row.append(f" {label} ", style=lit if tab_id in (self.active, self.hovered) else plain)
        bar = self.get_component_rich_style("log-tabs--bar")
        start, end = next((a, b) for tab_id, a, b in SPANS if tab_id == self.active)
        return Group(
            row,
            Bar(  # under the active label, its padding left out (as Textual's tabs)
                highlight_range=(start + 1, end - 1),
                highlight_style=Style.from_color(bar.color),
                background_style=Style.from_color(bar.bgcolor),
            ),
        )

    def on_click(self, event: events.Click) -> None:
        tab_id = self.tab_at(event.x)
        if tab_id:
            event.stop()
            self.post_message(self.Selected(tab_id))

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self.hovered = self.tab_at(event.x) if event.y == 0 else ""

    def on_leave(self, event: events.Leave) -> None:
        self.hovered = ""


class LogPanes(Vertical):
    """Two tabs: `Run` (the selected item's latest run, streaming) and `Activity` (every event).

    Every line passes `display_line` on its way in: a log file read back from disk holds the raw output
    (escape sequences included), and textual's Log would hand an ESC to the terminal as it is."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual names it id
        super().__init__(id=id)
        self._queued: deque[str] = deque(maxlen=FLUSH_MAX_LINES)
        self._dropped = 0

    def on_mount(self) -> None:
        self.set_interval(FLUSH_SECONDS, self.flush)

    def compose(self) -> ComposeResult:
        yield LogTabs(id="log-tabs")
        yield WrapLog(id="run-log", max_lines=RUN_LOG_MAX_LINES, highlight=False)
        activity = WrapLog(id="activity-log", max_lines=ACTIVITY_MAX_LINES, highlight=False)
        activity.display = False
        yield activity

    @property
    def active(self) -> str:
        """The tab shown: `tab-run` or `tab-activity`."""
        return self.query_one(LogTabs).active

    @active.setter
    def active(self, tab_id: str) -> None:
        if tab_id not in dict(TABS):
            raise ValueError(f"no log tab {tab_id!r}")
        self.query_one(LogTabs).active = tab_id
        self.run_log.display = tab_id == "tab-run"
        self.activity_log.display = tab_id == "tab-activity"

    def on_log_tabs_selected(self, message: LogTabs.Selected) -> None:
        self.active = message.tab_id

    @property
    def wrap(self) -> bool:
        """Long lines wrap to the pane's width (else they scroll sideways); both tabs alike."""
        return self.run_log.wrap

    @wrap.setter
    def wrap(self, on: bool) -> None:
        self.run_log.wrap = on
        self.activity_log.wrap = on

    @property
    def active_log(self) -> WrapLog:
        return self.activity_log if self.active == "tab-activity" else self.run_log

    @property
    def run_log(self) -> WrapLog:
        return self.query_one("#run-log", WrapLog)

    @property
    def activity_log(self) -> WrapLog:
        return self.query_one("#activity-log", WrapLog)

    def show_lines(self, lines: list[str]) -> None:
        """Replace the run pane's content (and forget output queued for what it showed before)."""
        self._queued.clear()
        self._dropped = 0
        log = self.run_log
        log.clear()
        if lines:
            log.write_lines([display_line(line) for line in lines[-RUN_LOG_MAX_LINES:]])
            # The write scrolled to the end the log had before its new size was laid out; once it is,
            # go to the real end, or the pane would sit above it and stop following what is appended.
            log.call_after_refresh(log.scroll_end, animate=False, immediate=True, x_axis=False)

    def append_lines(self, lines: list[str]) -> None:
        """Queue streamed lines for the next flush; beyond FLUSH_MAX_LINES only the newest are kept."""
        overflow = len(self._queued) + len(lines) - FLUSH_MAX_LINES
        if overflow > 0:
            self._dropped += overflow
        self._queued.extend(lines)

    def flush(self) -> None:
        if not self._queued:
            return
        lines = [display_line(line) for line in self._queued]
        self._queued.clear()
        if self._dropped:
            # Say what was skipped rather than show a silent gap; every line is in the log file.
            lines.insert(0, f"… {self._dropped:,} lines not shown while streaming (all are in the run's log)")
            self._dropped = 0
        self.run_log.write_lines(lines)

    def activity(self, line: str) -> None:
        self.activity_log.write_line(display_line(line))

"""A Textual `Log` that can wrap long lines to its width instead of scrolling them sideways (`w` in the
full-screen log). Off, it is Textual's Log unchanged (horizontal scroll, the fast paths the benchmarks
tune); on, each line is cut into rows of the pane's width, kept incrementally as lines arrive."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.cells import chop_cells
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import Log

from deploytui.tui.widgets.own_size import OwnSize

if TYPE_CHECKING:
    from typing import Self


class WrapLog(OwnSize, Log):
    """Log with a `wrap` switch. Selection highlighting is drawn only when not wrapping. Its virtual size
    repaints, not lays out the screen (OwnSize): every batch of lines appended laid out the whole screen
    (~20 ms on 5 widgets deep, ten times a second while a run streams; bench_streaming.py)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._wrap = False
        self._rows: list[str] = []
        """The wrapped rows of every line (while wrapping)."""
        self._wrapped_lines = 0
        """How many of the lines `_rows` holds."""
        self._wrap_width = 0
        self._rewrap = True
        """Lines were pruned or changed in place: the rows are rebuilt on the next write."""

    # -- the switch ---------------------------------------------------------------------------------

    @property
    def wrap(self) -> bool:
        return self._wrap

    @wrap.setter
    def wrap(self, on: bool) -> None:
        if on == self._wrap:
            return
        at_end = self.is_vertical_scroll_end
        self._wrap = on
        self._rewrap = True
        if on:
            self._update_rows()
        else:
            self._rows = []
            self.virtual_size = Size(self._width, self.line_count)
        self.refresh()
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    # -- keeping the rows ---------------------------------------------------------------------------

    def _row_width(self) -> int:
        return max(1, self.scrollable_content_region.width or self.size.width)

    def _update_rows(self) -> None:
        """Wrap the lines not wrapped yet (all of them after a prune or a resize); set the virtual size."""
        width = self._row_width()
        if self._rewrap or width != self._wrap_width or self._wrapped_lines > len(self._lines):
            self._rows = []
            self._wrapped_lines = 0
            self._wrap_width = width
            self._rewrap = False
        count = self.line_count
        process = self._process_line
        rows = self._rows
        for line in self._lines[self._wrapped_lines : count]:
            rows.extend(chop_cells(process(line), width) or [""])
        self._wrapped_lines = count
        self.virtual_size = Size(width, len(rows))

    def _prune_max_lines(self) -> None:
        if self.max_lines is not None and len(self._lines) > self.max_lines:
            self._rewrap = True
        super()._prune_max_lines()

    def write(self, data: str, scroll_end: bool | None = None) -> Self:
        self._rewrap = True  # the last line may have grown in place
        at_end = self.is_vertical_scroll_end
        super().write(data, scroll_end)
        self._after_write(at_end, scroll_end)
        return self

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> Self:
        at_end = self.is_vertical_scroll_end
        super().write_lines(lines, scroll_end)
        self._after_write(at_end, scroll_end)
        return self

    def _after_write(self, at_end: bool, scroll_end: bool | None) -> None:
        if not self._wrap:
            return
        self._update_rows()
        self.refresh()
        if (self.auto_scroll if scroll_end is None else scroll_end) and at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def clear(self) -> Self:
        super().clear()
        self._rows = []
        self._wrapped_lines = 0
        self._rewrap = True
        return self

    def _update_maximum_width(self, updates: int, size: int) -> None:
        if not self._wrap:
            super()._update_maximum_width(updates, size)
        elif updates == self._updates:
            self._width = max(size, self._width)  # for when wrapping is switched off

    def on_resize(self, event: events.Resize) -> None:
        if self._wrap and self._row_width() != self._wrap_width:
            at_end = self.is_vertical_scroll_end
            self._update_rows()
            self.refresh()
            if at_end:
                self.scroll_end(animate=False, immediate=True, x_axis=False)

    # -- drawing ------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        if not self._wrap:
            return super().render_line(y)
        scroll_y = self.scroll_offset.y
        width = self.size.width
        style = self.rich_style
        index = scroll_y + y
        if index >= len(self._rows):
            return Strip.blank(width, style)
        text = Text(self._rows[index], no_wrap=True)
        text.stylize(style)
        strip = Strip(text.render(self.app.console), text.cell_len)
        return strip.crop_extend(0, width, style).apply_offsets(0, index)

"""Widgets whose size their container sets, not their content: a new virtual size repaints them without
laying out the whole screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Input

if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget
else:
    _Base = object  # a plain mixin: Textual takes CSS and component classes from the first widget base


class OwnSize(_Base):
    """Mixin (first among the bases) for a widget whose virtual size (what it scrolls over) changes with
    its content while its own size does not. Textual's `virtual_size` is a layout reactive: each change
    lays out the whole screen again, ~7-20 ms here for ours (a batch of log lines, a filter keystroke;
    bench_streaming.py and bench_scale.py), and a key pressed meanwhile waits. Here a change updates the
    scrollbars only (the widget repaints what changed on its own); a scrollbar appearing or going still
    lays out, through its own reactive."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)


class FilterInput(OwnSize, Input):
    """The tree's filter field: one line as wide as the tree, whatever its text. Textual's Input sets its
    virtual size to its text's width on every keystroke, and each keystroke laid out the screen before
    the filter ran (7-11 ms of a ~20 ms keystroke on 5,000 items; bench_scale.py)."""

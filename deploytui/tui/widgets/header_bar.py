"""The top bar: checklist name, session id, operator, progress and elapsed time."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from deploytui.core.status import Status
from deploytui.tui.present import GLYPHS


def clock_text(seconds: float) -> str:
    """Elapsed time as a wall clock reads: 4:07, 1:02:05."""
    minutes, secs = divmod(int(max(0.0, seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class HeaderInfo:
    checklist: str
    session_id: str
    operator: str
    done: int
    total: int
    failed: int
    """Items failed or errored."""
    running: int
    read_only: bool = False
    finished: bool = False
    interrupted_actions: int = 0
    """World-changing steps cut by a crash: they may have partly run (shown apart, they need a look)."""
    interrupted: int = 0
    """Items whose run was cut short (the app was killed): shown apart from failures, they need a rerun."""
    flaky: int = 0
    """Items that passed only after a failed attempt: complete, shown apart."""
    blocked: int = 0
    """Items not run because a check they come after did not pass."""
    store_status: str = ""
    """What is wrong with the store, when something is (`store offline: 3 changes held locally`)."""


class HeaderBar(Widget):
    """One line; the right part (progress, elapsed) is kept when the terminal is narrow."""

    info: reactive[HeaderInfo | None] = reactive(None, layout=False)
    """What the bar shows, set by the screen whenever the session changes."""
    elapsed: reactive[float] = reactive(0.0)
    """Seconds since the session started, updated by the screen's clock."""

    def __init__(self, colors: dict[Status, str], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.status_palette = colors

    def render(self) -> Text:
        info = self.info
        if info is None:
            return Text("deploytui")
        right = Text(no_wrap=True)
        pct = (100 * info.done // info.total) if info.total else 100
        right.append(f"{info.done}/{info.total} ", Style(bold=True))
        right.append(f"{pct}%", Style(dim=True))
        if info.failed:
            right.append(
                f"  {GLYPHS[Status.FAILED]} {info.failed} failed",
                Style(color=self.status_palette.get(Status.FAILED)),
            )
        for count, status, word in (
            (info.blocked, Status.BLOCKED, "blocked"),
            (info.flaky, Status.FLAKY, "flaky"),
        ):
            if count:
                right.append(
                    f"  {GLYPHS[status]} {count} {word}", Style(color=self.status_palette.get(status))
                )
        if info.interrupted:
            right.append(
                f"  {GLYPHS[Status.INTERRUPTED]} {info.interrupted} interrupted",
                Style(color=self.status_palette.get(Status.INTERRUPTED)),
            )
        if info.interrupted_actions:
            right.append(
                f"  ⚠ {info.interrupted_actions} action(s) may have partly run",
                Style(color=self.status_palette.get(Status.FAILED), bold=True),
            )
        if info.running:
            right.append(
                f"  {GLYPHS[Status.RUNNING]} {info.running} running",
                Style(color=self.status_palette.get(Status.RUNNING)),
            )
        if info.store_status:
            right.append(f"  {info.store_status}", Style(reverse=True, bold=True))
        right.append("  elapsed ", Style(dim=True))
        right.append(clock_text(self.elapsed))
        left = Text(no_wrap=True, overflow="ellipsis")
        left.append(f" {info.checklist}", Style(bold=True))
        left.append(f"  {info.session_id}", Style(dim=True))
        left.append(f"  {info.operator}")
        if info.read_only:
            left.append("  READ-ONLY", Style(reverse=True, bold=True))
        if info.finished:
            left.append("  SIGNED OFF", Style(reverse=True))
        width = self.size.width
        room = max(0, width - right.cell_len - 3)
        left.truncate(room, overflow="ellipsis")
        left.pad_right(room - left.cell_len)
        return Text.assemble(left, "  ", right, " ")

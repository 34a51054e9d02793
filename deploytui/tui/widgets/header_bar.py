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
    """One line: checklist, session id, operator on the left; progress, counts, elapsed on the right
    (`fit_header` decides what a narrow terminal drops)."""

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
        return fit_header(info, self.elapsed, self.status_palette, self.size.width)


TITLE_MIN_CELLS = 12
"""Narrower than this, the checklist title is dropped rather than cut further."""


def _counts(info: HeaderInfo, palette: dict[Status, str]) -> Text:
    """Progress and every count that needs a look, and the store's trouble: what the header never drops."""
    right = Text(no_wrap=True)
    pct = (100 * info.done // info.total) if info.total else 100
    right.append(f"{info.done}/{info.total} ", Style(bold=True))
    right.append(f"{pct}%", Style(dim=True))
    if info.failed:
        right.append(
            f"  {GLYPHS[Status.FAILED]} {info.failed} failed", Style(color=palette.get(Status.FAILED))
        )
    for count, status, word in (
        (info.blocked, Status.BLOCKED, "blocked"),
        (info.flaky, Status.FLAKY, "flaky"),
        (info.interrupted, Status.INTERRUPTED, "interrupted"),
    ):
        if count:
            right.append(f"  {GLYPHS[status]} {count} {word}", Style(color=palette.get(status)))
    if info.interrupted_actions:
        right.append(
            f"  ⚠ {info.interrupted_actions} action(s) may have partly run",
            Style(color=palette.get(Status.FAILED), bold=True),
        )
    if info.running:
        right.append(
            f"  {GLYPHS[Status.RUNNING]} {info.running} running", Style(color=palette.get(Status.RUNNING))
        )
    if info.store_status:
        right.append(f"  {info.store_status}", Style(reverse=True, bold=True))
    return right


def fit_header(info: HeaderInfo, elapsed: float, palette: dict[Status, str], width: int) -> Text:
    """The header line in `width` cells. When it does not fit, what matters least goes first: the
    checklist title is shortened, then dropped; then the operator; then the clock; then the session id,
    always whole (a cut id cannot be typed into `--session`). The counts, the store's state, READ-ONLY and
    SIGNED OFF always stay."""
    counts = _counts(info, palette)
    clock = Text.assemble(("elapsed ", Style(dim=True)), clock_text(elapsed))
    flags = Text(no_wrap=True)
    if info.read_only:
        flags.append("READ-ONLY", Style(reverse=True, bold=True))
    if info.finished:
        flags.append(("  " if flags else "") + "SIGNED OFF", Style(reverse=True))
    title: Text | None = Text(info.checklist, Style(bold=True), no_wrap=True, overflow="ellipsis")
    session: Text | None = Text(info.session_id, Style(dim=True))
    operator: Text | None = Text(info.operator)
    shown_clock: Text | None = clock

    def line() -> tuple[list[Text], list[Text]]:
        left = [t for t in (title, session, operator, flags) if t]
        right = [t for t in (counts, shown_clock) if t]
        return left, right

    def cells() -> int:
        left, right = line()
        return 1 + sum(t.cell_len for t in left) + 2 * max(0, len(left) - 1) + 2 + sum(
            t.cell_len for t in right
        ) + 2 * max(0, len(right) - 1) + 1

    if cells() > width and title is not None:
        room = title.cell_len - (cells() - width)
        if room >= TITLE_MIN_CELLS:
            title.truncate(room, overflow="ellipsis")
        else:
            title = None
    dropped: list[str] = []
    for drop in ("operator", "clock", "session"):
        if cells() <= width:
            break
        dropped.append(drop)
        if drop == "operator":
            operator = None
        elif drop == "clock":
            shown_clock = None
        else:
            session = None
    # What a later drop made room for comes back (the clock dropped after the operator may leave room
    # for the operator again).
    for name in reversed(dropped[:-1]):
        if name == "operator":
            operator = Text(info.operator)
            if cells() > width:
                operator = None
        elif name == "clock":
            shown_clock = clock
            if cells() > width:
                shown_clock = None
    left, right = line()
    head = Text(" ", no_wrap=True)
    head.append_text(Text("  ").join(left))
    tail = Text("  ").join(right)
    gap = max(2, width - head.cell_len - tail.cell_len - 1)
    return Text.assemble(head, " " * gap, tail, " ", no_wrap=True, overflow="crop")

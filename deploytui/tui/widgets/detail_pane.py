"""The selected node in full: title, id, description, checks and last outcomes, actions, note, history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip
from textual.widgets import Static

from deploytui.core.checklist import Node
from deploytui.core.durations import format_took
from deploytui.core.redact import Redactor
from deploytui.core.session import ItemState, StatusChange
from deploytui.core.session.items import STEP_CANCELLED, STEP_FAILED, STEP_PASSED, STEP_STARTED
from deploytui.core.spec import CheckSpec
from deploytui.core.status import Status
from deploytui.core.text import inert
from deploytui.services.runs import is_world_changing
from deploytui.tui.present import GLYPHS
from deploytui.tui.widgets.own_size import OwnSize
from deploytui.tui.widgets.trends import TrendsView

LEXERS = {"sh": "bash", "shell": "bash", "console": "bash", "": "bash", "py": "python", "yml": "yaml"}
"""Fence languages mapped to Pygments lexer names (an unlabelled fence is shell: it runs in one)."""

OPEN_ITEMS_SHOWN = 12
"""Open items listed in a section's detail (failed ones first)."""


def _fmt_time(iso: str | None) -> str:
    """'2026-11-25T09:01:02Z' -> '09:01:02' (the date is in the header's session)."""
    if not iso:
        return ""
    return iso[11:19] if len(iso) >= 19 and iso[10] == "T" else iso


def who_line(state: ItemState, status: Status) -> str:
    """Who set the item's status and when, and how its checks' last run ended and took: the duration is
    the run's, so an override reads `failed in 1.9 s · overridden by alice at 21:19:58`. While something
    of it runs: since when (the earliest run under way), else that it waits for a slot."""
    if status is Status.RUNNING:
        starts = [c.at for c in state.checks.values() if c.status is Status.RUNNING and c.at]
        starts += [a.started for a in state.actions if a.running and a.started]
        if not starts:
            return "queued: waiting for a free slot"
        return f"running since {_fmt_time(min(starts))}, by {state.by}"
    who = f"{status.value} by {state.by} at {_fmt_time(state.at)}"
    if not state.checks or not state.duration_ms:
        return who
    ran = state.status_from_checks()
    if ran in (Status.RUNNING, Status.PENDING):  # a run under way: the last duration is not its own
        return who
    took = f"{ran.value} in {format_took(state.duration_ms)}"
    if ran is status:
        return f"{took} · by {state.by} at {_fmt_time(state.at)}"
    return f"{took} · {who}"


def history_line(change: StatusChange, colors: Mapping[Status, str]) -> Text:
    """One change of the history: the status it set, or, for a world-changing step's start or end (which
    may leave the status where it was), what the step did: `▶ started`, `✔ passed in 8.0 s`."""
    line = Text()
    line.append(f"{_fmt_time(change.at)} ", Style(dim=True))
    if change.step:
        mark = STEP_MARKS.get(change.step, Status.PENDING)
        words = change.step + (f" in {format_took(change.took_ms)}" if change.took_ms else "")
        line.append(f"{GLYPHS[mark]} {words}", Style(color=colors.get(mark)))
    else:
        new = Status(change.status)
        line.append(GLYPHS[new] + " " + new.value, Style(color=colors.get(new)))
    return line


STEP_MARKS = {
    STEP_STARTED: Status.RUNNING,
    STEP_PASSED: Status.PASSED,
    STEP_FAILED: Status.FAILED,
    STEP_CANCELLED: Status.INTERRUPTED,
}
"""The glyph of each StatusChange.step."""


def render_detail(
    node: Node,
    status: Status,
    state: ItemState | None,
    specs: Sequence[CheckSpec],
    redactor: Redactor,
    colors: Mapping[Status, str],
    *,
    descriptions: Mapping[str, str] | None = None,
    progress: tuple[int, int] | None = None,
    open_items: Sequence[tuple[Node, Status]] = (),
    syntax_theme: str = "ansi_dark",
) -> DetailView:
    """What the pane shows of one node; `state` is the session's ItemState (None when never touched)."""

    def r(text: str) -> str:
        """Every text shown here: secrets masked, control characters made visible and harmless."""
        return inert(redactor.redact(text))

    parts: list[RenderableType] = []
    # The status gets its own words on the title line: at the end of the id line it wrapped on a narrow
    # pane, and a terminal capture then read "Config valid" run into "failed".
    head = Text()
    head.append(GLYPHS[status] + " ", Style(color=colors.get(status), bold=True))
    head.append(r(node.title), Style(bold=True))
    head.append(f"  {status.value}", Style(color=colors.get(status)))
    parts.append(head)
    sub = Text(style=Style(dim=True))
    sub.append(f"{node.id}  ·  line {node.line}")
    if progress is not None:
        sub.append(f"  ·  {progress[0]}/{progress[1]} complete")
    if node.rollback:
        sub.append("  ·  rollback procedure")
    parts.append(sub)
    if state is not None and state.by and status is not Status.PENDING:
        parts.append(Text(who_line(state, status), style=Style(dim=True)))
    head_parts, parts = parts, []
    if node.description.strip():
        parts.append(Padding(Text(r(node.description.strip())), (1, 0, 0, 0)))
    if state is not None and state.reason:
        parts.append(Padding(Text.assemble(("Reason: ", "bold"), r(state.reason)), (1, 0, 0, 0)))
    if state is not None and state.note:
        parts.append(Padding(Text.assemble(("Note: ", "bold"), r(state.note)), (1, 0, 0, 0)))

    # World-changing bindings are steps, not checks: listed apart, and their pass does not complete the item.
    checks = [spec for spec in specs if not is_world_changing(spec)]
    steps = [spec for spec in specs if is_world_changing(spec)]
    for heading, hint, group in (
        ("Checks", "", checks),
        ("Steps", "  x runs them; tick the item once they did their job", steps),
    ):
        if not group:
            continue
        title = Text(heading, style=Style(bold=True, underline=True))
        title.append(hint, Style(dim=True))
        parts.append(Padding(title, (1, 0, 0, 0)))
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(ratio=1)
        results = state.checks if state is not None else {}
        for spec in group:
            result = results.get(spec.key)
            st = Status(result.status) if result is not None else Status.PENDING
            label = Text(GLYPHS[st] + " ", Style(color=colors.get(st), bold=True))
            label.append(spec.label)
            line = Text()
            desc = (descriptions or {}).get(spec.key)
            if desc:
                line.append(r(desc) + "\n", Style(dim=True))
            if result is None:
                line.append("not run yet", Style(dim=True))
            elif st is Status.RUNNING:
                # A step's start is its ActionStarted (logged just before its check run starts).
                runs = state.actions if state is not None else []
                step = next((a for a in runs if a.running and a.check == spec.key), None)
                since = step.started if step is not None else result.at
                line.append(f"running since {_fmt_time(since)}" if since else "running")
            else:
                line.append(r(result.reason or st.value))
                if result.duration_ms:
                    line.append(f"  {format_took(result.duration_ms)}", Style(dim=True))
                values = result.values
                if values:
                    line.append(
                        "\n" + "  ".join(f"{k}={r(str(v))}" for k, v in values.items()), Style(dim=True)
                    )
            table.add_row(label, line)
        parts.append(table)

    for action in node.actions:
        title = Text(f"Action {action.index + 1}", Style(bold=True, underline=True))
        title.append(f"  ({action.lang or 'shell'}, line {action.line}) — x to run", Style(dim=True))
        runs = [run for run in (state.actions if state is not None else []) if run.index == action.index]
        if runs:
            # The command's outcome does not decide the item (the operator ticks it), so say it here.
            last = runs[-1]
            if last.state == "running":
                mark, how = Status.RUNNING, f"running since {_fmt_time(last.started)}, by {last.by}"
            elif last.state == "interrupted":
                mark, how = Status.INTERRUPTED, f"interrupted at {_fmt_time(last.at)}: {last.reason}"
            elif last.state == "cancelled":
                mark, how = Status.INTERRUPTED, f"cancelled by {last.by} at {_fmt_time(last.at)}"
            else:
                ok = last.exit_code == 0
                mark = Status.PASSED if ok else Status.FAILED
                how = f"exit {last.exit_code} by {last.by} at {_fmt_time(last.at)}"
            title.append("\n")
            title.append(f"{GLYPHS[mark]} ", Style(color=colors.get(mark), bold=True))
            title.append(f"last run: {how}" + (f" ({len(runs)} runs)" if len(runs) > 1 else ""))
        parts.append(Padding(title, (1, 0, 0, 0)))
        lexer = LEXERS.get(action.lang.lower(), action.lang.lower() or "bash")
        parts.append(
            Syntax(
                r(action.code.rstrip("\n")),
                lexer,
                theme=syntax_theme,
                word_wrap=True,
                background_color="default",
            )
        )

    if open_items:
        bad_first = sorted(
            open_items, key=lambda pair: (pair[1] is Status.PENDING, pair[1] is Status.RUNNING)
        )
        title = Text(f"Open here ({len(open_items)})", Style(bold=True, underline=True))
        parts.append(Padding(title, (1, 0, 0, 0)))
        for leaf, st in bad_first[:OPEN_ITEMS_SHOWN]:
            line = Text(GLYPHS[st] + " ", Style(color=colors.get(st), bold=True))
            line.append(r(leaf.title))
            line.append(f"  {st.value}", Style(dim=True))
            parts.append(line)
        if len(open_items) > OPEN_ITEMS_SHOWN:
            parts.append(
                Text(
                    f"… and {len(open_items) - OPEN_ITEMS_SHOWN} more (f jumps to the next)", Style(dim=True)
                )
            )

    history = state.history if state is not None else []
    if history:
        parts.append(Padding(Text("History", style=Style(bold=True, underline=True)), (1, 0, 0, 0)))
        # A bound step's start is told once ("▶ started — its command"), not also as its check's start.
        step_starts = {f"check {key} started" for key in state.step_keys()} if state is not None else set()
        shown = [change for change in history if not (change.why in step_starts and not change.step)]
        for change in shown[-20:]:
            line = history_line(change, colors)
            line.append(f"  {change.by}")
            why = change.why
            if change.step == STEP_STARTED:  # "▶ started — deploy: $ …", not "started" twice
                why = why.replace(" started: ", ": ", 1)
            elif change.step:
                why = why.replace(" ended: ", ": ", 1)
            if why:
                # "check <item>#1 failed: …" reads as "check #1 failed: …" under the item's own title.
                line.append(f" — {r(why.replace(node.id + '#', '#'))}", Style(italic=True))
            parts.append(line)
    return DetailView(Group(*head_parts), Group(*parts))


class DetailView(NamedTuple):
    """The detail of one node in two parts: the pictures go between them."""

    head: RenderableType
    """The title, id and status lines."""
    body: RenderableType
    """Everything else: description, checks, actions, open items, history."""


class SteadyStatic(Static):
    """A Static that lays the screen out only when its height changes: Static.update always asks for a
    layout of the whole screen (20-57 ms while a run streamed; bench_streaming.py), and the detail's head
    keeps its 2-3 lines from node to node."""

    def show(self, content: RenderableType) -> None:
        width = self.content_region.width
        if not self.is_mounted or width <= 0:
            self.update(content)
            return
        console = self.app.console
        height = len(console.render_lines(content, console.options.update_width(width), pad=False))
        self.update(content, layout=height != self.content_region.height)


class RenderedLines(OwnSize, ScrollView, can_focus=True):
    """A renderable drawn into lines at the widget's width and scrolled inside the widget, whose size is
    its container's: new content repaints it and moves its scrollbar (OwnSize), with no layout of the
    screen. (A Static in a scrolling container changes height with its content, and every new height
    laid the whole screen out: 20-57 ms per cursor rest while a run streamed; bench_streaming.py.)"""

    DEFAULT_CSS = """
    RenderedLines { height: 1fr; overflow-x: hidden; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self._content: RenderableType = ""
        self._lines: list[Strip] = []
        self._drawn_for: tuple[int, Style] | None = None
        """(width, widget style) the lines were drawn for; None: draw again."""

    @property
    def content(self) -> RenderableType:
        """What the widget shows (as Static.content)."""
        return self._content

    def update(self, content: RenderableType, *, top: bool = True) -> None:
        """Show `content`, from its first line (`top`), or where the reader had scrolled to (the same
        node redrawn: a run's events redraw it while the operator reads its history)."""
        self._content = content
        self._drawn_for = None
        if top:
            self.scroll_to(y=0, animate=False, immediate=True)
        self._draw()
        self.refresh()

    def _draw(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or not self.is_mounted:
            return
        style = self.rich_style
        if self._drawn_for == (width, style):
            return
        console = self.app.console
        lines = console.render_lines(self._content, console.options.update_width(width), style=style)
        self._lines = [Strip(line, width) for line in lines]
        self._drawn_for = (width, style)
        self.virtual_size = Size(width, len(self._lines))

    def render_lines(self, crop: Region) -> list[Strip]:
        self._draw()  # a new width or theme draws the lines again, before any is shown
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        index = y + self.scroll_offset.y
        width = self.scrollable_content_region.width
        if not 0 <= index < len(self._lines):
            return Strip.blank(width, self.rich_style)
        line = self._lines[index].crop_extend(0, width, self.rich_style)
        selection = self.text_selection
        if selection is not None and (span := selection.get_span(index)) is not None:
            start, end = span
            end = line.cell_length if end == -1 else end
            style = self.screen.get_component_rich_style("screen--selection")
            chosen = Strip(Segment.apply_style(line.crop(start, end), post_style=style))  # over the text's
            line = Strip.join([line.crop(0, start), chosen, line.crop(end)])
        # The offsets let the screen tell which line and column the mouse is on: a drag selects text.
        return line.apply_offsets(0, index)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text (mouse drag, then the terminal's copy key): a reason or a log path."""
        return selection.extract("\n".join(line.text.rstrip() for line in self._lines)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()


class DetailPane(Vertical):
    """Detail of the selected node: its status lines, the pictures right under them (so a short terminal
    shows them without scrolling), then the rest, which scrolls on its own (the head stays in view)."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield SteadyStatic(id="detail-head")
        yield TrendsView(id="detail-trends")  # the pictures (tui/widgets/trends.py)
        yield RenderedLines(id="detail-body")

    @property
    def shown(self) -> tuple[RenderableType, RenderableType]:
        """What the pane shows: its head's renderable, then its body's."""
        return (
            self.query_one("#detail-head", SteadyStatic).content,  # type: ignore[return-value]
            self.query_one("#detail-body", RenderedLines).content,
        )

    _shown_for: str | None = None
    """The node the pane shows (None: none, or not said)."""

    def show(self, view: DetailView | RenderableType, node_id: str | None = None) -> None:
        """Show `view`; the body starts at its top for another node, and stays where it was scrolled to
        when `node_id` is the node shown already."""
        head, body = (view.head, view.body) if isinstance(view, DetailView) else ("", view)
        same = node_id is not None and node_id == self._shown_for
        self._shown_for = node_id
        self.query_one("#detail-head", SteadyStatic).show(head)
        self.query_one("#detail-body", RenderedLines).update(body, top=not same)

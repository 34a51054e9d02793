"""The one working screen: tree, detail, live logs. It owns the session and applies every change.

Workers run the engine and post `EngineEventPosted`; the screen hands each to the app's
`services.runs.RunRecorder` (the session change, saved at once), keeps the pure bookkeeping of runs in
`presenters.runs.RunBoard`, and redraws. Worker failures are handled in one place (`_worker_changed`).

It keeps layout, bindings and dispatch, and is long for that reason alone: some thirty key actions
(tick, skip, override, note, run, cancel, actions, filter, sign-off…), each a few lines that call
services or open a dialog, plus the redraw paths the benchmarks tune (bench_scale.py, bench_streaming.py).
What is not layout or dispatch lives elsewhere: the filter language and the run bookkeeping in
`tui/presenters/`, every rule of the session in `core/session/`, every run in `services/runs.py`.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from deploytui.core.durations import format_took
from deploytui.core.errors import DeployError
from deploytui.core.events import EngineEvent, RunBegan, RunEnded, RunOutput
from deploytui.core.session import (
    ActionRun,
    AddNote,
    CheckResult,
    Override,
    Skip,
    Tick,
    Untick,
    latest_statuses,
    needs_rerun,
    progress_counts,
)
from deploytui.core.spec import CheckSpec
from deploytui.core.status import BAD, Status
from deploytui.core.text import one_line
from deploytui.core.threads import sharing
from deploytui.services.actions import Step, describe, step_choice, step_context, steps_of
from deploytui.services.runs import failed_checks, is_world_changing, parse_iso, runnable_checks
from deploytui.tui.messages import EngineEventPosted
from deploytui.tui.present import GLYPHS
from deploytui.tui.presenters.filter import Matcher, first_match
from deploytui.tui.presenters.runs import RunBoard, RunBuffer
from deploytui.tui.screens.dialogs import ChoiceDialog, ConfirmDialog, TextDialog
from deploytui.tui.themes import status_colors
from deploytui.tui.widgets.checklist_tree import ChecklistTree, NodeView
from deploytui.tui.widgets.detail_pane import DetailPane, render_detail
from deploytui.tui.widgets.footer import DeployFooter
from deploytui.tui.widgets.header_bar import HeaderBar, HeaderInfo
from deploytui.tui.widgets.log_panes import LogPanes, read_appended, read_tail
from deploytui.tui.widgets.own_size import FilterInput
from deploytui.tui.widgets.trends import TrendsView

if TYPE_CHECKING:
    from pathlib import Path

    from textual.timer import Timer

    from deploytui.core.checklist import Node
    from deploytui.tui.app import DeployApp


FOOTER_SETTLE_SECONDS = 0.15
"""After a cursor move changes which keys apply, how long the footer waits for the cursor to rest (50 ms
was too short: repeated keys ~30 ms apart plus their handling leave gaps over 50 ms; bench_scale.py)."""

SELECTION_SETTLE_SECONDS = 0.1
"""After a cursor move, how long the detail and run panes wait for the cursor to rest before showing the
new node (one timer, restarted by each move): a held key moves the cursor only, and the panes (a detail
render, up to RUN_LOG_MAX_LINES log lines) are filled once, for the node it stops on (bench_scale.py)."""


def _is_running(run: CheckResult | ActionRun) -> bool:
    return run.running if isinstance(run, ActionRun) else run.status is Status.RUNNING


class MainScreen(Screen[None]):
    """Checklist tree (left), detail and logs (right), one header line, the footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "leave_full",
            "Leave full screen",
            id="leave-full",
            tooltip="Back from the full-screen log to the tree, detail and log",
        ),
        Binding("space", "tick", "Tick", id="tick", tooltip="Tick or untick the selected manual item"),
        Binding(
            "r",
            "run",
            "Run",
            id="run",
            tooltip="Run the selected node's checks (a section: all of its checks)",
        ),
        Binding("R", "run_all", "Run all", id="run-all", tooltip="Run every bound check (never actions)"),
        Binding(
            "F",
            "rerun_failed",
            "Re-run failed",
            id="rerun-failed",
            tooltip="Re-run the failed, errored, blocked, interrupted and flaky checks under the cursor",
        ),
        Binding(
            "ctrl+f",
            "rerun_all_failed",
            "Re-run all failed",
            id="rerun-all-failed",
            show=False,
            tooltip="Re-run every check that failed, errored, was blocked, interrupted or flaky",
        ),
        Binding(
            "x",
            "action",
            "Action",
            id="action",
            tooltip="Run the node's step ($: a command, bound action, webhook or dump) after confirming it",
        ),
        Binding("c", "cancel", "Cancel", id="cancel", tooltip="Cancel the selected node's running checks"),
        Binding(
            "C", "cancel_all", "Cancel all", id="cancel-all", show=False, tooltip="Cancel every running check"
        ),
        Binding("s", "skip", "Skip", id="skip", tooltip="Skip the selected item (a reason is required)"),
        Binding(
            "o", "override", "Override", id="override", tooltip="Accept a failed item with a required note"
        ),
        Binding("n", "note", "Note", id="note", tooltip="Add a note to the selected node"),
        Binding("f", "next_open", "Next", id="next-open", tooltip="Jump to the next failed or pending item"),
        Binding(
            "slash", "filter", "Filter", id="filter", tooltip="Filter items by text or status (is:failed)"
        ),
        Binding(
            "t",
            "wide_tree",
            "Wide tree",
            id="wide-tree",
            tooltip="Give the tree the full width, the detail below it (again: back to two columns)",
        ),
        Binding("z", "zoom_log", "Full log", id="zoom-log", tooltip="Toggle a full-screen log"),
        Binding(
            "w",
            "wrap_log",
            "Wrap",
            id="wrap-log",
            tooltip="In the full-screen log: wrap long lines, or scroll them sideways (← →)",
        ),
        Binding(
            "a",
            "activity",
            "Activity",
            id="activity",
            tooltip="Switch the log between the selected run and the whole session's activity",
        ),
        Binding("e", "signoff", "Sign-off", id="signoff", tooltip="Go to the sign-off form and export"),
        Binding("question_mark", "help", "Help", id="help", tooltip="Keys, statuses and markers"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (the session is already saved)"),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            id="clear-filter",
            show=False,
            tooltip="Close the filter (while typing: back to the node selected before)",
        ),
    ]

    FOOTER_RANK: ClassVar[tuple[str, ...]] = (
        "help",
        "quit",
        "tick",
        "run",
        "action",
        "cancel",
        "override",
        "rerun_failed",
        "skip",
        "signoff",
        "run_all",
        "next_open",
        "filter",
        "wide_tree",
        "zoom_log",
        "note",
        "activity",
    )
    """The footer's keys, most important first: at 80 columns the lowest go (help and the palette keep
    them all). `?` and `q` come first so that they are always there."""

    FOOTER_RANK_FULL_LOG: ClassVar[tuple[str, ...]] = (
        "help",
        "quit",
        "leave_full",
        "wrap_log",
        "activity",
        "cancel",
    )
    """The footer of the full-screen log: how to leave it, wrap, switch tabs."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    """Below 100 columns the panes are re-proportioned (see deploytui.tcss)."""

    MUTATING: ClassVar[frozenset[str]] = frozenset(
        {
            "tick",
            "run",
            "run_all",
            "rerun_failed",
            "rerun_all_failed",
            "action",
            "cancel",
            "cancel_all",
            "skip",
            "override",
            "note",
        }
    )
    """Actions unavailable when the session is opened read-only or finished."""

    def __init__(self) -> None:
        super().__init__(id="main")
        self.selected_id: str | None = None
        self._tree: ChecklistTree | None = None
        """The checklist tree, once mounted (check_action asks it for the cursor on every footer refresh)."""
        self.runs = RunBoard()
        """The runs in progress: items, buffers, descriptions (pure bookkeeping)."""
        self._tailing: tuple[Path, int] | None = None
        """Read-only: the log of the selected run another process is writing, and how much is shown."""
        self._filter_origin: str | None = None
        """The node selected when the filter opened (Esc while typing returns to it)."""
        self._footer_signature: tuple[object, ...] | None = None
        self._footer_timer: Timer | None = None
        self._selection_timer: Timer | None = None
        """The pending detail/run pane refresh of a cursor move (restarted by the next one)."""
        self._log_node: str | None = None
        """The node whose run the run pane shows (streamed lines go there only for that node; after a
        cursor move it lags `selected_id` until the selection settles)."""
        """The pending footer refresh of a cursor move (restarted by the next one)."""
        """_bindings_signature() at the last refresh_bindings (None: refresh on the next cursor move)."""
        self._running_nodes: set[str] = set()
        self._running_key: tuple[int, int, int] | None = None
        """(runs.version, session, its seq) `_running_nodes` was computed for."""
        self._running_drawn: set[str] = set()
        """The running marks the tree was last drawn with."""
        self._progress_counts: dict[str, tuple[int, int]] = {}
        self._progress_key: tuple[int, int, int] | None = None
        self._rerun_set: frozenset[str] = frozenset()
        self._rerun_key: tuple[int, int, int] | None = None
        self._checked: frozenset[str] | None = None
        """Caches of _progress, _rerun_nodes and _checked_nodes, with what they were computed for."""
        self._matcher: Matcher | None = None
        """The filter's matcher (keeps the last query's matches: typing on narrows them)."""

    @property
    def deploy_app(self) -> DeployApp:
        return self.app  # type: ignore[return-value]

    @property
    def buffers(self) -> dict[str, RunBuffer]:
        return self.runs.buffers

    @property
    def pending_runs(self) -> dict[str, str]:
        return self.runs.pending_runs

    @property
    def descriptions(self) -> dict[str, str]:
        return self.runs.descriptions

    # ------------------------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        app = self.deploy_app
        colors = status_colors(app.current_theme)
        yield HeaderBar(colors, id="header-bar")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield FilterInput(
                    placeholder="filter: text, is:failed, is:pending …  (Esc clears)", id="filter"
                )
                yield ChecklistTree(
                    app.checklist,
                    app.checks_per_item,
                    steps_per_item=app.steps_per_item,
                    redact=app.redactor.redact,
                    id="tree",
                )
            with Vertical(id="right"):
                yield DetailPane(id="detail")
                yield LogPanes(id="logs")
        yield DeployFooter()

    def on_mount(self) -> None:
        app = self.deploy_app
        self.query_one("#filter", Input).display = False
        self._rebuild_tree()
        tree = self.query_one(ChecklistTree)
        self._tree = tree
        tree.focus()
        first = next(iter(app.checklist.roots), None)
        if first is not None:
            tree.select_id(first)
            self.selected_id = first
        self._refresh_header()
        self._show_selected()
        self.query_one(LogPanes).activity(
            self._stamp() + f"opened session {app.live.session.id} as {app.operator}"
        )
        for warning in app.open_warnings:
            self.query_one(LogPanes).activity(self._stamp() + warning)
            self.notify(warning, title="Session", severity="warning", timeout=20)
        if app.resumed:
            counts = app.live.session.counts(app.checklist)
            done = sum(n for st, n in counts.items() if st.is_complete)
            # One short line (the id is in the header): a taller, longer toast covered the sign-off form.
            text = f"Resumed: {done}/{sum(counts.values())} complete"
            if counts[Status.INTERRUPTED]:
                text += f", {counts[Status.INTERRUPTED]} interrupted (r runs them again)"
            self.notify(text, timeout=6)
        self.set_interval(1.0, self._tick_clock)
        # Everything built so far (checklist, session, tree, widgets) lives as long as the app: moved out
        # of the collector's sight once the first frame is up, so that a full collection does not walk it
        # again and again (on 5,000 items those took 100-200 ms each, stalling cursor keys; bench_scale.py).
        self.call_after_refresh(gc.freeze)
        # A new session's TOML (and its fsyncs, file store), owed until the first frame is up.
        if getattr(app.live, "behind", 0) > 0:
            self.call_after_refresh(
                self.run_worker, self._write_checkpoint, name="checkpoint", thread=True, exit_on_error=False
            )
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)

    def _write_checkpoint(self) -> None:
        """(A thread.) The TOML a new session owes, after the fsyncs that make it durable (the file
        store's `checkpoint` does them first); what the save keeps (its verified item tables) is
        then frozen too, like the first frame's objects: else each full collection walked it again
        (30-45 ms each, cursor keys held up; bench_scale.py). It naps between item tables so that keys
        pressed meanwhile do not wait for the GIL (`sharing`)."""
        self.deploy_app.live.checkpoint(pause=sharing())
        gc.freeze()

    def refresh_all(self) -> None:
        """Redraw everything from the session (after changes made elsewhere: another process, sign-off)."""
        self._running_drawn = set(self._running_marks())
        self.query_one(ChecklistTree).refresh_labels()
        self._refresh_header()
        self._show_selected()
        self._refresh_footer_if_changed()

    def _on_theme_changed(self, _theme: Any) -> None:
        colors = status_colors(self.app.current_theme)
        self.query_one(ChecklistTree).refresh_labels(colors=colors)
        self.query_one(HeaderBar).status_palette = colors
        self._refresh_header()
        self._show_selected()

    # ------------------------------------------------------------------------------------ views

    def _running_marks(self) -> set[str]:
        """Nodes the tree shows running: every item with a run submitted from here and not ended (queued
        ones too: the session learns of a run only when it gets its slot, and the header counted 49 running
        while the tree showed them all pending), every item with a world-changing step under way (the
        session holds no running status for those), and their ancestors."""
        app = self.deploy_app
        key = (self.runs.version, id(app.live.session), app.live.session.seq)
        if key != self._running_key:
            items = self.runs.running_items() | {i for i, _run in app.live.session.running_actions()}
            marks: set[str] = set()
            for item in items:
                current: str | None = item
                while current is not None and current not in marks and current in app.checklist.nodes:
                    marks.add(current)
                    current = app.checklist.node(current).parent
            self._running_nodes = marks
            self._running_key = key
        return self._running_nodes

    def _sync_running_marks(self) -> None:
        """Redraw the nodes whose running mark changed since the last time the tree was drawn."""
        before = self._running_drawn
        now = self._running_marks()
        changed = before ^ now
        self._running_drawn = set(now)
        if changed:
            self.query_one(ChecklistTree).refresh_labels(changed)

    def _view(self, node_id: str) -> NodeView:
        app = self.deploy_app
        session = app.live.session
        node = app.checklist.node(node_id)
        try:
            status = session.status_of(node_id, app.checklist)
        except DeployError:
            status = Status.PENDING
        if node_id in self._running_marks():
            status = Status.RUNNING
        progress = None
        if node.kind == "section" or node.children:
            progress = self._progress().get(node_id, (0, 0))
        return NodeView(status, progress)

    def _progress(self) -> dict[str, tuple[int, int]]:
        """Every node's (complete, total), computed in one pass once per session change (a label per
        node used to count its own leaves: O(nodes x depth) per rebuild; bench_scale.py)."""
        app = self.deploy_app
        key = (id(app.live.session), app.live.session.seq, id(app.live.session.items))
        if self._progress_key != key:
            self._progress_counts = progress_counts(app.live.session, app.checklist)
            self._progress_key = key
        return self._progress_counts

    def _rerun_nodes(self) -> frozenset[str]:
        """Nodes under which `F` has something to run, once per session change (the footer asks on every
        cursor move, and each answer walked the whole session and config)."""
        app = self.deploy_app
        key = (id(app.live.session), app.live.session.seq, id(app.live.session.items))
        if self._rerun_key != key:
            self._rerun_set = needs_rerun(app.live.session, app.checklist, {s.key for s in self._runnable()})
            self._rerun_key = key
        return self._rerun_set

    def _runnable(self) -> list[CheckSpec]:
        """Every check `r` or `F` may run somewhere (never world-changing ones; rollback ones included)."""
        app = self.deploy_app
        return [s for s in app.config.checks if not is_world_changing(s) and s.item in app.checklist.nodes]

    def _checked_nodes(self) -> frozenset[str]:
        """Nodes with a runnable check at or under them (the checklist and config do not change)."""
        if self._checked is None:
            app = self.deploy_app
            found: set[str] = set()
            for spec in self._runnable():
                rollback = app.checklist.node(spec.item).rollback
                current: str | None = spec.item
                while current is not None:
                    node = app.checklist.node(current)
                    if node.rollback or not rollback:
                        found.add(current)
                    current = node.parent
            self._checked = frozenset(found)
        return self._checked

    def _rebuild_tree(self, visible: set[str] | None = None) -> None:
        tree = self.query_one(ChecklistTree)
        tree.build(self._view, status_colors(self.app.current_theme), visible)

    def _refresh_header(self) -> None:
        app = self.deploy_app
        session = app.live.session
        counts = session.counts(app.checklist)
        total = sum(counts.values())
        done = sum(n for s, n in counts.items() if s.is_complete)
        failed = counts[Status.FAILED] + counts[Status.ERROR]
        header = self.query_one(HeaderBar)
        header.info = HeaderInfo(
            checklist=app.redactor.redact(app.checklist.title or "Checklist"),
            session_id=session.id,
            # A follower shows who is deploying, not who watches.
            operator=(session.current_operator or session.operator) if app.read_only else app.operator,
            done=done,
            total=total,
            failed=failed,
            interrupted=counts[Status.INTERRUPTED],
            flaky=counts[Status.FLAKY],
            blocked=counts[Status.BLOCKED],
            interrupted_actions=len(session.interrupted_actions()),
            # A follower started none of them: it counts what the session says runs.
            running=session.runs_under_way() if app.read_only else len(self.pending_runs),
            read_only=app.read_only,
            finished=bool(session.finished),
            store_status=app.store_status(),
        )
        self._tick_clock()

    def _tick_clock(self) -> None:
        started = parse_iso(self.deploy_app.live.session.started)
        if started is None:
            return
        end = parse_iso(self.deploy_app.live.session.finished or "") or self.deploy_app.clock()
        self.query_one(HeaderBar).elapsed = max(0.0, (end - started).total_seconds())

    def _show_selected(self) -> None:
        if self.selected_id is not None:
            self._show_detail()
            self._show_run_log(self.selected_id)

    def _show_run_log(self, node_id: str) -> None:
        logs = self.query_one(LogPanes)
        self._tailing = None
        self._log_node = node_id
        buffer = self.buffers.get(node_id)
        if buffer is not None:
            logs.show_lines([f"── {buffer.title} ──", *buffer.lines])
            return
        state = self.deploy_app.live.session.items.get(node_id)
        latest = None
        if state is not None:
            runs = [c for c in state.checks.values() if c.log] + [a for a in state.actions if a.log]
            if runs:
                latest = max(runs, key=lambda c: c.at)
        node = self.deploy_app.checklist.node(node_id)
        if node.kind == "section":
            logs.show_lines(
                ["Select an item to see its latest run.", "Every event is in the Activity tab (a)."]
            )
            return
        if latest is None:
            hint = "No run yet."
            if self.deploy_app.checks_per_item.get(node_id):
                hint += " Press r to run the checks."
            if self._steps(node_id):
                hint += " Press x to run its command."
            logs.show_lines([hint])
            return
        path = self.deploy_app.live.dir / latest.log
        if self.deploy_app.read_only and _is_running(latest):
            # Another process writes this run: show its whole lines, then what it appends (follow_run_log).
            lines, offset = read_appended(path, 0)
            logs.show_lines([f"── {latest.log} ──", *lines])
            self._tailing = (path, offset)
            return
        logs.show_lines([f"── {latest.log} ──", *read_tail(path)])

    def follow_run_log(self) -> None:
        """Read-only: the lines the writer appended to the selected run's log since they were shown (a
        store copies logs without an event, so nothing else would redraw the pane)."""
        if self._tailing is None:
            return
        path, offset = self._tailing
        lines, offset = read_appended(path, offset)
        self._tailing = (path, offset)
        if lines:
            self.query_one(LogPanes).append_lines(lines)

    def _redraw(self, node_ids: Sequence[str]) -> None:
        self._sync_running_marks()
        self.query_one(ChecklistTree).refresh_labels(node_ids)
        self._refresh_header()
        if self.selected_id is not None:
            self._show_detail()
        self._refresh_footer_if_changed()

    def _show_detail(self) -> None:
        """Redraw the detail pane (the run pane streams, and reloads, on its own)."""
        node_id = self.selected_id
        if node_id is None:
            return
        app = self.deploy_app
        node = app.checklist.node(node_id)
        view = self._view(node_id)
        specs = app.config.checks_for(node_id)
        open_items: list[tuple[Node, Status]] = []
        if node.children:
            for leaf in app.checklist.leaves_under(node_id):
                if leaf.rollback == node.rollback:
                    status = app.live.session.status_of(leaf.id, app.checklist)
                    if leaf.id in self._running_marks():
                        status = Status.RUNNING
                    if not status.is_complete:
                        open_items.append((leaf, status))
        self.query_one(DetailPane).show(
            render_detail(
                node,
                view.status,
                app.live.session.items.get(node_id),
                specs,
                app.redactor,
                status_colors(app.current_theme),
                descriptions=self.descriptions,
                progress=view.progress,
                open_items=open_items,
                syntax_theme="ansi_dark" if app.current_theme.dark else "ansi_light",
            ),
            node_id,
        )
        self.query_one(TrendsView).show_for(node_id, app.live.session.items.get(node_id), specs)

    def _stamp(self) -> str:
        return self.deploy_app.clock().astimezone().strftime("%H:%M:%S ")

    # ------------------------------------------------------------------------------------ events

    def _bindings_signature(self) -> tuple[object, ...] | None:
        """What the footer shows depends on: the focused widget and which of this screen's keys apply."""
        try:
            return (
                id(self.focused),
                *(self.check_action(b.action, ()) for b in self.BINDINGS if isinstance(b, Binding)),
            )
        except Exception:  # noqa: BLE001 - not answerable yet (mounting): refresh to be safe
            return None

    def refresh_bindings(self) -> None:
        """Every refresh (ours and Textual's) notes what the footer now shows."""
        self._footer_signature = self._bindings_signature()
        super().refresh_bindings()

    def _refresh_footer_if_changed(self) -> None:
        """Refresh the footer only when the keys that apply changed. Its recompose (~20 keys mounted and
        styled, ~30 ms) on every run event took over half the event loop during `R` on the bundled
        checklist (pyinstrument), and checks timed meanwhile measured it: a Redis PING read 1.2 s."""
        if self._bindings_signature() != self._footer_signature:
            self.refresh_bindings()

    def _settle_footer(self) -> None:
        """Refresh the footer FOOTER_SETTLE_SECONDS after the last cursor move that changed its keys."""
        if self._footer_timer is not None:
            self._footer_timer.stop()
        self._footer_timer = self.set_timer(FOOTER_SETTLE_SECONDS, self._footer_settled)

    def _footer_settled(self) -> None:
        self._footer_timer = None
        if self._bindings_signature() != self._footer_signature:
            self.refresh_bindings()

    @on(ChecklistTree.NodeFocused)
    def _node_focused(self, event: ChecklistTree.NodeFocused) -> None:
        if event.node_id != self.selected_id:
            self.selected_id = event.node_id
            # The tree's cursor (and the node's label) moved already; the detail and run panes follow
            # once the cursor rests (a held j/k re-rendered both per step: cursor p99 ~40 ms on 5,000
            # items, bench_scale.py). Keys act on the cursor's node meanwhile (_cursor_id).
            if self._selection_timer is not None:
                self._selection_timer.stop()
            self._selection_timer = self.set_timer(SELECTION_SETTLE_SECONDS, self.flush_selection)
            if event.jump:  # f, the rollback, back from a filter: not a held key, shown at once
                self.flush_selection()
            # The footer recomposes on every refresh: only when the keys that apply differ (most cursor
            # moves change nothing; the recompose and its garbage slowed cursor keys on big checklists).
            if self._bindings_signature() != self._footer_signature:
                # Not at once: the footer's recompose (~30 ms on this machine) held the next cursor key
                # up while a key repeats (cursor p99 ~40 ms on 5,000 items, bench_scale.py). It settles
                # once the cursor rests; the keys themselves are checked live (check_action) meanwhile.
                self._settle_footer()

    def flush_selection(self) -> None:
        """Show the selected node in the detail and run panes now, if a cursor move left them behind
        (the settle timer calls it; so do actions that need the panes current, and tests)."""
        if self._selection_timer is not None:
            self._selection_timer.stop()
            self._selection_timer = None
            self._show_selected()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        app = self.deploy_app
        if action in self.MUTATING and (app.read_only or app.live.session.finished):
            return False
        node = app.checklist.nodes.get(self._cursor_id() or "")
        if action in ("tick", "skip", "override") and node is None:
            return False
        if action == "tick" and node is not None and node.kind != "item":
            return False
        # Keys that do nothing for the selected node leave the footer, so it lists what applies here.
        if action == "run" and node is not None and node.id not in self._checked_nodes():
            return False
        if action == "rerun_failed" and node is not None and node.id not in self._rerun_nodes():
            return False
        if action == "action" and node is not None and not self._steps(node.id):
            return False
        if action == "override" and node is not None and self._view(node.id).status not in BAD:
            return False
        if action in ("cancel", "cancel_all") and not self.pending_runs:
            return False
        if action in ("leave_full", "wrap_log") and not self.log_full:
            return False
        if action == "clear_filter":
            return bool(self.query_one("#filter", Input).display)
        return True

    # ------------------------------------------------------------------------------------ applying

    def apply(self, action: Any, *, notify_refusal: bool = True) -> bool:
        """Apply one session action (saved at once); a refused one is shown, not raised."""
        try:
            self.deploy_app.live.apply(action)
        except DeployError as exc:
            if notify_refusal:
                self.notify(str(exc), title="Not done", severity="warning")
            return False
        except OSError as exc:
            self.notify(
                f"could not save the session: {exc}", title="Save failed", severity="error", timeout=30
            )
            return False
        return True

    def _log_activity(self, text: str) -> None:
        self.query_one(LogPanes).activity(self._stamp() + self.deploy_app.redactor.redact(text))

    # ------------------------------------------------------------------------------------ operator actions

    def _cursor_id(self) -> str | None:
        """The node under the tree's cursor. `selected_id` follows it through the tree's NodeFocused
        message, which arrives after any key already queued: a key typed right behind a cursor key (a
        fast typist, typed-ahead keys, a paste) must act on the node the cursor is on, not the one before."""
        tree = self._tree
        current = tree.selected_id if tree is not None else None
        return current if current is not None else self.selected_id

    def _selected(self) -> Node | None:
        current = self._cursor_id()
        if current is not None and current != self.selected_id and self._tree is not None:
            self._node_focused(ChecklistTree.NodeFocused(self._tree, current))
        self.flush_selection()  # a key acts here: the panes show what it acts on
        return self.deploy_app.checklist.nodes.get(self.selected_id or "")

    def action_tick(self) -> None:
        node = self._selected()
        if node is None or node.kind != "item":
            return
        app = self.deploy_app
        status = app.live.session.status_of(node.id, app.checklist)
        session = app.live.session
        open_children = [c for c in node.children if not session.status_of(c, app.checklist).is_complete]
        if node.children and open_children and status not in (Status.DONE, Status.SKIPPED, Status.OVERRIDDEN):
            # Its status is its sub-items': a tick here would be recorded yet change nothing on screen.
            self.notify(
                f"{node.title} completes with its sub-items: {len(open_children)} still open (tick those, "
                "or s skips them all).",
            )
            return
        if status in (Status.DONE, Status.SKIPPED, Status.OVERRIDDEN):
            ok = self.apply(Untick(node.id, app.operator))
            verb = "unticked"
        else:
            ok = self.apply(Tick(node.id, app.operator))
            verb = "ticked"
        if ok:
            self._log_activity(f"{verb} {node.id}")
            self._redraw([node.id])
            self.refresh_bindings()

    def _targets(self, node: Node) -> list[Node]:
        """The item itself, or a section's open leaves."""
        if node.kind == "item" and not node.children:
            return [node]
        app = self.deploy_app
        leaves = [n for n in app.checklist.leaves_under(node.id) if n.rollback == node.rollback]
        return [n for n in leaves if not app.live.session.status_of(n.id, app.checklist).is_complete]

    def action_skip(self) -> None:
        node = self._selected()
        if node is None:
            return
        targets = self._targets(node)
        if not targets:
            self.notify("Nothing open to skip here.")
            return
        what = node.title if len(targets) == 1 else f"{len(targets)} open items under {node.title}"

        def done(reason: str | None) -> None:
            if not reason:
                return
            applied = [t.id for t in targets if self.apply(Skip(t.id, self.deploy_app.operator, reason))]
            if applied:
                self._log_activity(f"skipped {', '.join(applied)}: {reason}")
                self._redraw(applied)

        self.app.push_screen(
            TextDialog(
                f"Skip: {what}",
                "Why is this skipped? (kept in the record)",
                placeholder="e.g. no schema change in this release",
                confirm="Skip",
                id="skip-dialog",
            ),
            done,
        )

    def action_override(self) -> None:
        node = self._selected()
        if node is None:
            return
        app = self.deploy_app
        if node.kind == "item" and not node.children:
            targets = [node]
        else:
            targets = [
                n
                for n in app.checklist.leaves_under(node.id)
                if app.live.session.status_of(n.id, app.checklist) in BAD
            ]
        if not targets:
            self.notify("Only a failed, errored or interrupted item can be overridden.")
            return

        def done(note: str | None) -> None:
            if not note:
                return
            applied = [t.id for t in targets if self.apply(Override(t.id, app.operator, note))]
            if applied:
                self._log_activity(f"overrode {', '.join(applied)}: {note}")
                self._redraw(applied)

        if targets == [node]:
            what, prompt = node.title, "Accept this failure? Say why (kept in the record)."
        else:  # a section (or an item with sub-items): every failed item under it, named and counted
            names = ", ".join(t.title for t in targets[:3]) + (", …" if len(targets) > 3 else "")
            what = f"{len(targets)} failed item(s) under {node.title}"
            prompt = f"Accept these failures ({names})? Say why (kept in the record)."
        self.app.push_screen(
            TextDialog(
                f"Override: {what}",
                prompt,
                placeholder="e.g. known flaky probe, verified by hand in Grafana",
                confirm="Override",
                id="override-dialog",
            ),
            done,
        )

    def action_note(self) -> None:
        node = self._selected()
        if node is None:
            return

        def done(text: str | None) -> None:
            if text and self.apply(AddNote(node.id, self.deploy_app.operator, text)):
                self._log_activity(f"note on {node.id}: {text}")
                self._redraw([node.id])

        self.app.push_screen(
            TextDialog(
                f"Note: {node.title}",
                "Add a note (kept in the session and the record).",
                confirm="Add note",
                id="note-dialog",
            ),
            done,
        )

    def action_next_open(self) -> None:
        """The next item after the cursor (wrapping) that failed, errored, was blocked or interrupted;
        when none did, the next pending one."""
        app = self.deploy_app
        self._selected()  # catch up with the cursor (f f typed fast steps twice)
        ids = [n.id for n in app.checklist.items() if not n.children]
        if not ids:
            return
        start = ids.index(self.selected_id) + 1 if self.selected_id in ids else 0
        order = [i for i in ids[start:] + ids[:start] if i != self.selected_id]
        for wanted in (BAD, {Status.PENDING}):
            for node_id in order:
                if app.live.session.status_of(node_id, app.checklist) in wanted:
                    tree = self.query_one(ChecklistTree)
                    if not tree.select_id(node_id):
                        self._clear_filter()
                        tree.select_id(node_id)
                    return
        self.notify("Nothing else failed or pending.")

    # filter ------------------------------------------------------------------------------------

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if not field.display:
            self._selected()
            self._filter_origin = self.selected_id
            self._filter_matcher()  # its index of titles now, not on the first key typed
        field.display = True
        self.set_focus(field)  # at once: keys typed right after "/" belong to the filter

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        visible = self.matching_ids(event.value) if event.value.strip() else None
        # Typing on often leaves the same nodes ("s", "st", "ste" all match every "Step"): no rebuild
        # then (a rebuild of a 5,000-item tree is ~0.3 s; bench_scale.py).
        if visible != self.query_one(ChecklistTree).visible_ids:
            self._rebuild_tree(visible)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() and not self.query_one(ChecklistTree).visible_ids:
            # An empty tree alone reads like a broken screen.
            self.notify(f"Nothing matches {event.value.strip()!r}. Esc clears the filter.", timeout=6)
        elif event.value.strip():
            # Enter means "take me there": the first match, not the node selected before (often a
            # section the filter keeps only as a match's ancestor, or not shown at all).
            app = self.deploy_app
            first = first_match(app.checklist, app.live.session, event.value)
            if first is not None:
                self.query_one(ChecklistTree).select_id(first)
        self.query_one(ChecklistTree).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if field.display:
            # Esc while typing abandons the filter: back where the operator was. Esc from the filtered
            # tree keeps the node they moved to.
            self._clear_filter(restore=self.focused is field)

    def _clear_filter(self, restore: bool = False) -> None:
        field = self.query_one("#filter", Input)
        with field.prevent(Input.Changed):
            field.value = ""
        field.display = False
        self._rebuild_tree(None)
        tree = self.query_one(ChecklistTree)
        if restore and self._filter_origin is not None:
            tree.select_id(self._filter_origin)
        self.set_focus(tree)

    def matching_ids(self, query: str) -> set[str]:
        """Ids of nodes matching every word of the query, plus ancestors (presenters.filter)."""
        return self._filter_matcher().matching_ids(self.deploy_app.live.session, query)

    def _filter_matcher(self) -> Matcher:
        checklist = self.deploy_app.checklist
        if self._matcher is None or self._matcher.checklist is not checklist:
            self._matcher = Matcher(checklist)
        return self._matcher

    # runs --------------------------------------------------------------------------------------

    def _failed_under(self, node_id: str) -> list[CheckSpec]:
        app = self.deploy_app
        return failed_checks(app.checklist, app.config, app.live.session, [node_id])

    def _specs_under(self, node_id: str) -> list[CheckSpec]:
        return runnable_checks(self.deploy_app.checklist, self.deploy_app.config, [node_id])

    def _submit(self, specs: list[CheckSpec], group: str) -> None:
        """Start checks in a worker (skipping ones already running)."""
        running_keys = {key for _item, key in self.deploy_app.live.session.running()}
        specs = [s for s in specs if s.key not in running_keys]
        if not specs:
            self.notify("Those checks are already running." if running_keys else "No checks bound here.")
            return
        from deploytui.engine import new_run_id

        run_ids = [new_run_id() for _ in specs]
        for spec, run_id in zip(specs, run_ids, strict=True):
            self.runs.submitted(run_id, spec.item)
        self._sync_running_marks()  # queued runs show ▶ at once, not when each gets its slot
        if self.selected_id is not None:
            self._show_detail()
        self._refresh_header()
        self.refresh_bindings()
        self.run_worker(
            self._run_checks(specs, run_ids, group),
            name=f"checks:{group}",
            group=group,
            exit_on_error=False,
        )

    async def _run_checks(self, specs: list[CheckSpec], run_ids: list[str], group: str) -> None:
        try:
            known = latest_statuses(self.deploy_app.live.session)
            await self.deploy_app.engine.run_many(
                specs, self._post_event, run_ids=run_ids, group=group, known=known
            )
        finally:
            self.runs.never_began(run_ids)

    def _post_event(self, event: EngineEvent) -> None:
        """The engine's on_event: runs in the event loop; only posts (the screen applies it)."""
        self.post_message(EngineEventPosted(event))

    def action_run(self) -> None:
        """The selected node's checks; under an active filter, only those of the items it shows."""
        node = self._selected()
        if node is None:
            return
        specs = self._specs_under(node.id)
        visible = self.query_one(ChecklistTree).visible_ids
        if visible is not None:
            specs = [s for s in specs if s.item in visible]
        self._submit(specs, f"run:{node.id}")

    def action_rerun_failed(self) -> None:
        """The checks under the cursor whose latest result failed, errored, was blocked, interrupted or
        flaky: exactly those, not the whole section."""
        node = self._selected()
        if node is not None:
            self._submit_failed([node.id], f"rerun:{node.id}")

    def action_rerun_all_failed(self) -> None:
        self._submit_failed(None, "rerun-all")

    def _submit_failed(self, under: list[str] | None, group: str) -> None:
        app = self.deploy_app
        specs = failed_checks(app.checklist, app.config, app.live.session, under)
        if not specs:
            self.notify("Nothing failed here." if under else "Nothing failed.")
            return
        self._submit(specs, group)

    def action_run_all(self) -> None:
        self._submit(runnable_checks(self.deploy_app.checklist, self.deploy_app.config), "run-all")

    def action_cancel(self) -> None:
        node = self._selected()
        if node is None:
            return
        ids = {node.id, *(d.id for d in self.deploy_app.checklist.descendants(node.id))}
        cancelled = sum(self.deploy_app.engine.cancel(rid) for rid in self.runs.pending_under(ids))
        if not cancelled:
            self.notify("Nothing of this node is running.")

    def action_cancel_all(self) -> None:
        count = self.deploy_app.engine.cancel_all()
        if not count:
            self.notify("Nothing is running.")

    def _steps(self, node_id: str) -> list[Step]:
        """The node's world-changing steps (fenced blocks, bound actions, webhooks, dumps)."""
        app = self.deploy_app
        try:
            return steps_of(app.checklist, app.config, node_id)
        except KeyError:
            return []

    @work(exclusive=True, group="action-confirm", exit_on_error=False)
    async def action_action(self) -> None:
        node = self._selected()
        steps = self._steps(node.id) if node is not None else []
        if node is None or not steps:
            self.notify("This node has nothing to run.")
            return
        app = self.deploy_app
        index = 0
        if len(steps) > 1:
            choice = await app.push_screen_wait(
                ChoiceDialog(
                    f"Run which step of “{node.title}”?",
                    [step_choice(s, describe(app.engine.engine, s)) for s in steps],
                    id="action-choice",
                )
            )
            if choice is None:
                return
            index = choice
        step = steps[index]
        what = describe(app.engine.engine, step)
        headline = ("This changes the world. " if what.world_changing else "") + "It runs exactly:\n"
        body = Group(
            Text.assemble(
                (headline, "bold"),
                (step_context(step), "dim"),
            ),
            Text(""),
            Syntax(
                what.command,
                "bash" if step.action is not None else "text",
                theme="ansi_dark" if app.current_theme.dark else "ansi_light",
                word_wrap=True,
                background_color="default",
            ),
            Text(""),
            Text(f"in {what.cwd}  on {what.host}", style="dim"),
        )
        confirmed = await app.push_screen_wait(
            ConfirmDialog(
                f"Run {step.label} of “{node.title}”?",
                body,
                confirm="Run it",
                danger=what.world_changing,
                copy=what.command,
                id="action-dialog",
            )
        )
        if not confirmed:
            return
        from deploytui.engine import new_run_id

        run_id = new_run_id()
        self.runs.submitted(run_id, node.id)
        self._sync_running_marks()
        self._refresh_header()
        group = f"action:{node.id}"
        if step.action is not None:
            job = app.engine.run_action(node.id, step.action, run_id, self._post_event, group=group)
        else:
            assert step.spec is not None
            job = app.engine.run_check(step.spec, run_id, self._post_event, group=group)
        self.run_worker(job, name=f"action:{node.id}:{index}", group=group, exit_on_error=False)

    # engine events -----------------------------------------------------------------------------

    @on(EngineEventPosted)
    def _engine_event(self, message: EngineEventPosted) -> None:
        event = message.event
        if isinstance(event, RunOutput):
            item = self.runs.output(event)
            if item is not None and item == self._log_node:
                self.query_one(LogPanes).append_lines(event.lines)
            return
        if isinstance(event, RunBegan):
            title, appended = self.runs.began(event)
            if event.item == self._log_node:
                if appended:
                    self.query_one(LogPanes).append_lines([f"── {title} ──"])
                else:
                    self.query_one(LogPanes).show_lines([f"── {title} ──"])
            self.deploy_app.recorder.record(event)
            self._log_activity(f"{GLYPHS[Status.RUNNING]} {event.item}  {title}")
            self._redraw([event.item])
            return
        if isinstance(event, RunEnded):
            # The run pane ends with how the run ended (it showed the output and stopped there).
            ended = event.outcome.status
            self.runs.ended(event, f"── {GLYPHS[ended]} {ended.value}: {one_line(event.outcome.reason)} ──")
            if event.item == self._log_node and event.item in self.buffers:
                # While streaming the pane showed a sample; now it shows the run's kept tail whole.
                self._show_run_log(event.item)
            outcome = event.outcome
            self.deploy_app.recorder.record(event)
            status = outcome.status
            self._log_activity(
                f"{GLYPHS[status]} {event.item}  {status.value}: {one_line(outcome.reason)}"
                + (f"  ({format_took(outcome.duration_ms)})" if outcome.duration_ms else "")
            )
            self._redraw([event.item])

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures are handled: shown, logged, never a crash."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            text = self.deploy_app.redactor.redact(f"{type(error).__name__}: {error}")
            self.notify(text, title=f"{event.worker.name} failed", severity="error", timeout=20)
            self._log_activity(f"worker {event.worker.name} failed: {text}")
        if event.state in (WorkerState.ERROR, WorkerState.CANCELLED, WorkerState.SUCCESS):
            self._sync_running_marks()  # runs cancelled while queued end without an event
            self._refresh_header()
            self._refresh_footer_if_changed()

    # navigation to other screens ---------------------------------------------------------------

    @property
    def log_full(self) -> bool:
        """The log has the whole screen (z)."""
        return self.has_class("-log-full")

    def footer_actions(self) -> list[str]:
        """What the footer shows, most important first (widgets.footer.DeployFooter)."""
        if self.log_full:
            return list(self.FOOTER_RANK_FULL_LOG)
        ranked = list(self.FOOTER_RANK)
        if self.has_class("-narrow"):
            # Where tree labels get cut, the key that gives the tree the width is worth more.
            ranked.remove("wide_tree")
            ranked.insert(ranked.index("signoff"), "wide_tree")
        return ranked

    def action_zoom_log(self) -> None:
        full = not self.log_full
        self.set_class(full, "-log-full")
        if full:
            # The log takes the keys (arrows scroll it, sideways too); the hidden tree must not keep them,
            # nor the filter field (focus fell there, and `a` typed into it).
            self.query_one(LogPanes).active_log.focus()
        else:
            self.query_one(ChecklistTree).focus()
        self.refresh_bindings()

    def action_leave_full(self) -> None:
        if self.log_full:
            self.action_zoom_log()

    def action_wrap_log(self) -> None:
        logs = self.query_one(LogPanes)
        logs.wrap = not logs.wrap
        self.notify("Long lines wrap." if logs.wrap else "Long lines scroll sideways (← →).", timeout=3)

    def action_wide_tree(self) -> None:
        self.toggle_class("-tree-wide")
        self.call_after_refresh(self._scroll_tree_to_cursor)

    def _scroll_tree_to_cursor(self) -> None:
        tree = self.query_one(ChecklistTree)
        if tree.cursor_node is not None:
            tree.scroll_to_node(tree.cursor_node, animate=False)

    def action_activity(self) -> None:
        logs = self.query_one(LogPanes)
        logs.active = "tab-activity" if logs.active == "tab-run" else "tab-run"
        if self.log_full:
            logs.active_log.focus()

    def action_help(self) -> None:
        from deploytui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.deploy_app.binding_rows(self)))

    def action_signoff(self) -> None:
        from deploytui.tui.screens.signoff import SignoffScreen

        self.app.push_screen(SignoffScreen(), self._signoff_done)

    def _signoff_done(self, result: str | None) -> None:
        self.refresh_all()
        if result == "rollback":
            self.open_rollback()

    def open_rollback(self) -> None:
        rollback = self.deploy_app.checklist.rollback_id
        if rollback is None:
            self.notify("This checklist has no rollback procedure.", severity="warning")
            return
        tree = self.query_one(ChecklistTree)
        if not tree.select_id(rollback):
            self._clear_filter()
            tree.select_id(rollback)
        tree.expand_id(rollback)
        tree.focus()

    @work(exclusive=True, group="quit", exit_on_error=False)
    async def action_quit(self) -> None:
        app = self.deploy_app
        if self.pending_runs:
            ok = await app.push_screen_wait(
                ConfirmDialog(
                    "Checks are still running",
                    Text(
                        f"{len(self.pending_runs)} run(s) in progress. Quit and cancel them? "
                        "They will show as cancelled; everything else is saved."
                    ),
                    confirm="Cancel runs and quit",
                    id="quit-dialog",
                )
            )
            if not ok:
                return
            app.engine.cancel_all()
            for _ in range(100):
                if not self.pending_runs:
                    break
                await asyncio.sleep(0.05)
        app.exit(0)

"""What the screen says while things run, as an operator walking a deployment at 2 a.m. reads it (issue 15):
a running step says since when; a follower counts what runs; a world-changing step's pass leaves the
item to the operator's tick; the history tells a step's start and end; the sparkline holds every run of
the session; one duration format; at 80x24 the sparkline is above the fold and the Run pane has no stray
scrollbar glyph."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Sparkline, Static

from deploytui.core.durations import format_took
from deploytui.core.session import ActionStarted, RunStarted
from deploytui.core.status import Status
from deploytui.storage.fs import SessionStore
from deploytui.tui.app import DeployApp
from deploytui.tui.screens.dialogs import ConfirmDialog
from deploytui.tui.screens.help import HelpScreen
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from deploytui.tui.widgets.detail_pane import DetailPane
from deploytui.tui.widgets.header_bar import HeaderBar
from deploytui.tui.widgets.log_panes import LogPanes
from tests.support.pilot_support import main_screen as main
from tests.support.pilot_support import rendered_text, select, settle, until
from tests.support.tui_support import build_app

pytestmark = pytest.mark.usefixtures("tui_home")

SIZE = (120, 40)
SMALL = (80, 24)

CHECKLIST = """\
# Live release

## Steps

- [ ] Probe the API
- [ ] Migrate the database
- [ ] Restart workers
  ```bash
  while [ ! -e release-restart ]; do sleep 0.02; done; echo restarted
  ```
- [ ] Announce
"""

PROBE, MIGRATE, RESTART, ANNOUNCE = (
    "steps/probe-the-api",
    "steps/migrate-the-database",
    "steps/restart-workers",
    "steps/announce",
)

BINDINGS = """\
checklist = "release.md"

[[check]]
item = "steps/probe-the-api"
kind = "command"
name = "probe"
run = "sleep 1.05; echo 'GET /api/v1/health 200 {long}'"

[[check]]
name = "alembic upgrade"
item = "steps/migrate-the-database"
kind = "action"
run = "while [ ! -e release-migrate ]; do sleep 0.02; done; echo at head"
timeout = "60s"

[[check]]
name = "tell the team"
item = "steps/announce"
kind = "action"
run = "echo sent"
"""


def _project(tmp: Path) -> Path:
    (tmp / "release.md").write_text(CHECKLIST, encoding="utf-8")
    config = tmp / "deploytui.toml"
    config.write_text(BINDINGS.format(long="x" * 150), encoding="utf-8")
    return config


def _app(tmp: Path, **options: object) -> DeployApp:
    options.setdefault("choice", "new")
    return build_app(tmp, config=_project(tmp), **options)


def _status(app: DeployApp, node_id: str) -> Status:
    return app.live.session.status_of(node_id, app.checklist)


def _head(app: DeployApp) -> str:
    """The detail pane's status lines (its first lines, under which the pictures sit)."""
    return "".join(rendered_text(s.content) for s in main(app).query_one(DetailPane).query("#detail-head"))


def _detail(app: DeployApp) -> str:
    return _head(app) + rendered_text(main(app).query_one(DetailPane).shown[1])


def _fmt(iso: str) -> str:
    """The detail pane's clock: the session's own timestamp, HH:MM:SS."""
    return iso[11:19]


async def _run_step(pilot, app: DeployApp, node_id: str) -> None:  # type: ignore[no-untyped-def]
    """x on a node with one step, then confirm."""
    await select(pilot, node_id)
    await pilot.press("x")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirm dialog")
    await pilot.click("#confirm")
    await until(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog to close")


def _step_states(app: DeployApp, node_id: str) -> list[str]:
    return [a.state for a in app.live.session.items[node_id].actions]


# -- 1. a running step says since when -------------------------------------------------------------


async def test_a_running_step_reads_running_since_its_start_not_pending(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _run_step(pilot, app, MIGRATE)
        await until(pilot, lambda: _step_states(app, MIGRATE) == ["running"], "the bound step to run")
        await _run_step(pilot, app, RESTART)
        await until(pilot, lambda: _step_states(app, RESTART) == ["running"], "the fenced step to run")
        await pilot.pause()
        for node_id in (MIGRATE, RESTART):
            await select(pilot, node_id)
            [run] = app.live.session.items[node_id].actions
            head = _head(app) or _detail(app).split("\n\n", 1)[0]
            assert head.splitlines()[0].rstrip().endswith("running"), head
            assert f"running since {_fmt(run.started)}, by alice" in head, head
            assert "pending" not in head, head
        await select(pilot, MIGRATE)
        [run] = app.live.session.items[MIGRATE].actions
        assert f"running since {_fmt(run.started)}" in _detail(app).split("Steps", 1)[1]
        (tmp_path / "release-migrate").touch()
        (tmp_path / "release-restart").touch()
        await until(pilot, lambda: _step_states(app, MIGRATE) == ["ended"], "the bound step to end")
        await until(pilot, lambda: _step_states(app, RESTART) == ["ended"], "the fenced step to end")
        await settle(pilot)


# -- 2. a follower's header counts what runs in the session it follows --------------------------------


async def test_a_followers_header_counts_the_checks_and_steps_running_in_the_session(tmp_path: Path) -> None:
    first = _app(tmp_path)
    async with first.run_test(size=SIZE) as pilot:
        await pilot.pause()
        session_id = first.live.session.id
        probe_key = first.config.checks_for(PROBE)[0].key
        migrate_key = first.config.checks_for(MIGRATE)[0].key
    viewer = build_app(tmp_path, config=tmp_path / "deploytui.toml", session_id=session_id, read_only=True)
    async with viewer.run_test(size=SIZE) as pilot:
        await pilot.pause()
        header = viewer.screen.query_one(HeaderBar)
        assert "running" not in header.render().plain
        # The writer, in another process: a check runs, a bound step runs (a check and a step of one run),
        # and a fenced block runs.
        owner = SessionStore(tmp_path / "sessions").open(session_id, checklist=viewer.checklist)
        try:
            owner.apply(RunStarted(PROBE, probe_key, "run-probe", "bob"))
            where = ("/srv", "jb1", 7, "bob")
            owner.apply(ActionStarted(MIGRATE, migrate_key, "run-migrate", "alembic", *where))
            owner.apply(RunStarted(MIGRATE, migrate_key, "run-migrate", "bob"))
            owner.apply(ActionStarted(RESTART, f"{RESTART}!action0", "run-restart", "restart", *where))
        finally:
            owner.close()
        await until(pilot, lambda: "▶ 3 running" in header.render().plain, "the follower to count 3 runs")
        assert "READ-ONLY" in header.render().plain


# -- 3. a world-changing step's pass leaves the item to the operator ----------------------------------


async def test_a_bound_steps_pass_does_not_complete_the_item_the_tick_does(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        tree = main(app).query_one(ChecklistTree)
        await _run_step(pilot, app, ANNOUNCE)
        await until(pilot, lambda: _step_states(app, ANNOUNCE) == ["ended"], "the step to end")
        await settle(pilot)
        state = app.live.session.items[ANNOUNCE]
        assert state.checks[state.actions[0].check].status is Status.PASSED
        assert _status(app, ANNOUNCE) is Status.PENDING, state.history
        label = str(tree._nodes_by_id[ANNOUNCE].label)
        assert label.startswith("○"), label
        assert label.endswith("Announce $") and "◆" not in label, label  # a step, marked as fenced ones
        assert "Steps  x runs them; tick the item once they did their job" in _detail(app)
        await pilot.press("space")
        await pilot.pause()
        assert _status(app, ANNOUNCE) is Status.DONE
        # Run again once ticked: the pass leaves the tick standing.
        await _run_step(pilot, app, ANNOUNCE)
        await until(pilot, lambda: _step_states(app, ANNOUNCE) == ["ended", "ended"], "the second run")
        await settle(pilot)
        assert _status(app, ANNOUNCE) is Status.DONE, app.live.session.items[ANNOUNCE].history


async def test_the_help_legend_says_what_the_step_mark_covers(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        legend = rendered_text(app.screen.query_one("#help-body", Static).content)
        assert "$  step" in legend and "a bound action, webhook or dump" in legend, legend
        assert "◆  check" in legend and "they only read" in legend, legend
        await pilot.press("escape")


# -- 4. the history tells a step's start and end -------------------------------------------------------


async def test_the_history_says_a_step_started_and_how_it_ended(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _run_step(pilot, app, ANNOUNCE)
        await until(pilot, lambda: _step_states(app, ANNOUNCE) == ["ended"], "the bound step to end")
        await _run_step(pilot, app, RESTART)
        await until(pilot, lambda: _step_states(app, RESTART) == ["running"], "the fenced step to run")
        (tmp_path / "release-restart").touch()
        await until(pilot, lambda: _step_states(app, RESTART) == ["ended"], "the fenced step to end")
        await settle(pilot)
        for node_id in (ANNOUNCE, RESTART):
            await select(pilot, node_id)
            history = _detail(app).split("History", 1)[1]
            lines = [line for line in history.splitlines() if line.strip()]
            assert "○ pending" not in history, history
            assert "▶ started  alice" in lines[0], history
            assert len(lines) == 2 and "✔ passed in " in lines[1], history
            took = app.live.session.items[node_id].history[-1].took_ms
            assert f"✔ passed in {format_took(took)}" in lines[1], history


# -- 5. the sparkline holds every run, also those that ended while another node was selected ----------


async def test_the_sparkline_counts_runs_that_ended_while_another_node_was_selected(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "steps")  # the section: r runs its checks (never its steps)
        for _ in range(2):
            await pilot.press("r")
            await settle(pilot)
        await select(pilot, PROBE)
        await pilot.pause()
        spark = main(app).query_one("#trend-durations", Sparkline)
        assert len(list(spark.data or [])) == 2
        title = rendered_text(main(app).query_one("#trend-durations-title", Static).content)
        assert "over 2 run(s)" in title, title


# -- 6. one duration format --------------------------------------------------------------------------


def test_one_duration_format() -> None:
    assert [format_took(ms) for ms in (0, 850, 999, 1000, 8026, 59_940, 59_960, 125_000, 3_725_000)] == [
        "0 ms",
        "850 ms",
        "999 ms",
        "1.0 s",
        "8.0 s",
        "59.9 s",
        "1 m 00 s",
        "2 m 05 s",
        "1 h 02 m",
    ]


async def test_the_detail_pane_shows_every_duration_in_one_format(tmp_path: Path) -> None:
    """It showed `8026 ms` in the status line and the check's row beside `last 8s` in the sparkline."""
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, PROBE)
        await pilot.press("r")
        await settle(pilot)
        check = app.live.session.items[PROBE].checks[app.config.checks_for(PROBE)[0].key]
        assert check.duration_ms >= 1000
        took = format_took(check.duration_ms)
        detail = _detail(app)
        assert f"passed in {took} · by alice" in detail, detail
        assert f"  {took}" in detail.split("Checks", 1)[1]
        assert f"{check.duration_ms} ms" not in detail
        title = rendered_text(main(app).query_one("#trend-durations-title", Static).content)
        assert f"last {took}" in title, title


# -- 7. 80x24: the sparkline above the fold, no stray glyph in the Run pane ---------------------------


def _screen_lines(app: DeployApp) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def test_at_80x24_the_sparkline_shows_without_scrolling(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await select(pilot, PROBE)
        for _ in range(2):
            await pilot.press("r")
            await settle(pilot)
        await pilot.pause()
        pane = main(app).query_one(DetailPane)
        spark = pane.query_one("#trend-durations", Sparkline)
        assert pane.scroll_y == 0
        assert spark.region.height > 0 and spark.region.bottom <= pane.region.bottom, (
            spark.region,
            pane.region,
        )


async def test_at_80x24_the_run_pane_has_no_stray_scrollbar_glyph(tmp_path: Path) -> None:
    """The run's output line is longer than the pane: it brought a horizontal scrollbar whose thumb read
    as a lone `▊` under the output in a terminal capture."""
    app = _app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await select(pilot, PROBE)
        await pilot.press("r")
        await settle(pilot)
        logs = main(app).query_one(LogPanes)
        assert any("x" * 60 in line for line in logs.run_log.lines)
        lines = _screen_lines(app)
        region = logs.region
        shown = [lines[y][region.x : region.right] for y in range(region.y, region.bottom)]
        assert not any(ch in "▉▊▋▌▍▎▏" for row in shown for ch in row), "\n".join(shown)

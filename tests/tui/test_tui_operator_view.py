"""What the operator sees of live state and at small sizes: the tree's running marks, the detail pane's
words, the help's way out, the full-screen log, the header and footer at 80 columns (Pilot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploytui.core.durations import format_took
from deploytui.core.status import Status
from deploytui.tui.app import DeployApp
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from deploytui.tui.widgets.detail_pane import DetailPane
from deploytui.tui.widgets.header_bar import HeaderInfo, fit_header
from deploytui.tui.widgets.log_panes import LogPanes, LogTabs
from tests.support.pilot_support import main_screen as main
from tests.support.pilot_support import rendered_text as text_of
from tests.support.pilot_support import select, settle, until
from tests.support.tui_support import build_app

SIZE = (120, 40)


pytestmark = pytest.mark.usefixtures("tui_home")


def detail_text(app: DeployApp, width: int = 200) -> str:
    """The detail pane's text: its status lines, then the rest (the pictures sit between them)."""
    pane = main(app).query_one(DetailPane)
    return "".join(text_of(part, width) for part in pane.shown)


HELD_CHECKLIST = """\
# Held release

## Checks

- [ ] Held probe
- [ ] Queued probe
- [ ] Environment variables configured for every service of the release

## Steps

- [ ] Migrate
  ```bash
  while [ ! -e release-action ]; do sleep 0.05; done
  ```
"""

HELD_BINDINGS = """\
checklist = "checklist.md"

[defaults]
concurrency = 1

[[check]]
item = "checks/held-probe"
kind = "command"
name = "held"
run = "while [ ! -e release-check ]; do sleep 0.05; done"
timeout = "120s"

[[check]]
item = "checks/queued-probe"
kind = "command"
name = "queued"
run = "true"
"""
"""One slot: the held check runs until the test creates `release-check`, the other waits its turn. The
action runs until `release-action` exists. Nothing depends on how long anything takes."""


def held_app(tmp_path: Path) -> DeployApp:
    (tmp_path / "checklist.md").write_text(HELD_CHECKLIST, encoding="utf-8")
    (tmp_path / "deploytui.toml").write_text(HELD_BINDINGS, encoding="utf-8")
    return build_app(tmp_path, config=tmp_path / "deploytui.toml", choice="new")


def glyph(app: DeployApp, node_id: str) -> str:
    tree = main(app).query_one(ChecklistTree)
    return tree._nodes_by_id[node_id].label.plain[0]


# -- running state ---------------------------------------------------------------------------------


async def test_a_run_shows_every_queued_and_running_check_as_running_at_once(tmp_path: Path) -> None:
    """1.5 s into the first R the header said `▶ 49 running` while every node still showed ○: a queued
    run is unknown to the session until it gets its slot."""
    app = held_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("R")
        await until(pilot, lambda: app.live.session.running(), "the held check starts")
        session = app.live.session
        assert session.status_of("checks/queued-probe", app.checklist) is Status.PENDING  # queued
        assert glyph(app, "checks/held-probe") == "▶"
        assert glyph(app, "checks/queued-probe") == "▶"
        assert glyph(app, "checks") == "▶"
        assert "▶ 2 running" in screen_text(app)
        (tmp_path / "release-check").touch()
        await settle(pilot)
        assert glyph(app, "checks/held-probe") == "✔" and glyph(app, "checks/queued-probe") == "✔"
        assert glyph(app, "checks") == "○"  # nothing runs; its manual item is still open


async def test_a_running_fenced_action_shows_running_on_its_node(tmp_path: Path) -> None:
    app = held_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "steps/migrate")
        await pilot.press("x")
        await pilot.pause()
        await pilot.click("#confirm")
        await until(pilot, lambda: app.live.session.running_actions(), "the action starts")
        assert glyph(app, "steps/migrate") == "▶"
        assert glyph(app, "steps") == "▶"
        (tmp_path / "release-action").touch()
        await settle(pilot)
        assert not app.live.session.running_actions()
        assert glyph(app, "steps/migrate") == "○"  # the operator ticks it: the command does not decide


# -- the detail pane ------------------------------------------------------------------------------


async def test_an_overridden_items_detail_gives_the_duration_to_the_run_not_to_the_override(
    tmp_path: Path,
) -> None:
    """It read `overridden by alice at 08:02:48 in 408 ms`: the override took no 408 ms, the run did."""
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/config-valid")
        await pilot.press("r")
        await settle(pilot)
        state = app.live.session.items["preflight/config-valid"]
        ran_at = state.at[11:19]
        took = format_took(state.duration_ms)
        assert f"failed in {took} · by alice at {ran_at}" in detail_text(app)
        await pilot.press("o", *"lint rule is wrong", "enter")
        await pilot.pause()
        state = app.live.session.items["preflight/config-valid"]
        assert state.status is Status.OVERRIDDEN
        text = detail_text(app)
        assert f"failed in {took} · overridden by alice at {state.at[11:19]}" in text, text
        assert "ms in" not in text and f"{state.at[11:19]} in" not in text


async def test_the_detail_title_line_carries_the_status_apart_from_the_id(tmp_path: Path) -> None:
    """The status ended the id line, which wrapped on a narrow pane: "Config valid" ran into "failed"."""
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/config-valid")
        await pilot.press("r")
        await settle(pilot)
        lines = detail_text(app, width=38).splitlines()
        assert lines[0].rstrip() == "✘ Config valid  failed", lines
        assert lines[1].strip() == "preflight/config-valid  ·  line 8", lines


def screen_text(app: DeployApp) -> str:
    """The top screen as plain text, line by line (what a terminal capture would read)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


# -- the help screen ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_help_says_how_to_close_it_and_those_keys_close_it(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    """The hint under the keys fell below the screen: the help gave no way out that one could see."""
    from deploytui.tui.screens.help import HelpScreen

    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key in ("escape", "q", "question_mark"):
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            shown = screen_text(app)
            assert "Esc / q / ? close" in shown, shown
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, MainScreen), key


# -- the full-screen log --------------------------------------------------------------------------


def footer_line(app: DeployApp) -> str:
    return screen_text(app).splitlines()[-1]


async def test_esc_leaves_the_full_screen_log_and_keeps_the_filter_and_the_selection(tmp_path: Path) -> None:
    """Esc in the full-screen log cleared the filter and moved the selection, and the log stayed."""
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"conf", "enter")
        await pilot.press("down")
        await pilot.pause()
        screen = main(app)
        selected = screen.selected_id
        await pilot.press("z")
        await pilot.pause()
        assert screen.log_full
        footer = footer_line(app)
        assert "esc Leave full screen" in footer and "w Wrap" in footer, footer
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.log_full
        assert screen.query_one("#filter").display and screen.query_one("#filter").value == "conf"
        assert screen.selected_id == selected
        assert app.focused is screen.query_one(ChecklistTree)


async def test_a_switches_the_full_screen_log_to_activity_while_a_filter_is_active(tmp_path: Path) -> None:
    """Full screen hid the tree and focus fell into the filter field: `a` typed into it."""
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"conf", "enter")
        await pilot.press("z")
        await pilot.pause()
        logs = main(app).query_one(LogPanes)
        await pilot.press("a")
        await pilot.pause()
        assert logs.active == "tab-activity"
        assert main(app).query_one("#filter").value == "conf"
        assert app.focused is logs.activity_log
        await pilot.press("a")
        await pilot.pause()
        assert logs.active == "tab-run" and app.focused is logs.run_log


async def test_a_click_on_a_log_tab_label_shows_that_tab_and_only_its_log(tmp_path: Path) -> None:
    """The tabs are one widget (Textual's TabbedContent took ten, ~25 ms of the first frame): a click on
    `Activity` shows the activity log, a click on `Run` the run log; only one log is shown at a time."""
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        logs = main(app).query_one(LogPanes)
        tabs = logs.query_one(LogTabs)
        assert [type(w).__name__ for w in logs.query("*")] == ["LogTabs", "WrapLog", "WrapLog"]
        assert logs.active == "tab-run" and logs.run_log.display and not logs.activity_log.display
        assert text_of(tabs.render(), 40).splitlines()[0].rstrip() == " Run  Activity"
        await pilot.click(LogTabs, offset=(8, 0))  # on `Activity`
        await pilot.pause()
        assert logs.active == "tab-activity" and logs.activity_log.display and not logs.run_log.display
        assert "opened session" in "\n".join(logs.activity_log.lines)
        await pilot.click(LogTabs, offset=(20, 0))  # past the labels: nothing changes
        await pilot.pause()
        assert logs.active == "tab-activity"
        await pilot.click(LogTabs, offset=(2, 0))  # on `Run`
        await pilot.pause()
        assert logs.active == "tab-run" and logs.run_log.display and not logs.activity_log.display
        with pytest.raises(ValueError, match="no log tab"):
            logs.active = "tab-nope"


async def test_the_full_screen_log_wraps_long_lines_on_w_and_scrolls_them_sideways_otherwise(
    tmp_path: Path,
) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("z")
        await pilot.pause()
        logs = main(app).query_one(LogPanes)
        long_line = "start-" + "x" * 150 + "-the-end"
        logs.show_lines(["short", long_line, "after"])
        await pilot.pause()
        log = logs.run_log
        assert log.virtual_size.width > log.size.width  # not wrapped: wider than the pane
        assert "-the-end" not in screen_text(app)
        await pilot.press("ctrl+pagedown", "ctrl+pagedown", "ctrl+pagedown")  # sideways, a page at a time
        await pilot.pause()
        assert log.scroll_x > 0 and "-the-end" in screen_text(app)
        await pilot.press("home", "w")
        await pilot.pause()
        assert logs.wrap and log.virtual_size.width <= log.size.width
        shown = screen_text(app)
        joined = "".join(shown.split())  # the line cut into rows, joined again
        assert "start-" in shown and joined.count("x-the-end") == 1 and "after" in shown, shown
        logs.show_lines(["again " + "y" * 200])  # lines written while wrapping wrap too
        await pilot.pause()
        assert log.virtual_size.height >= 3
        await pilot.press("w")
        await pilot.pause()
        assert not logs.wrap and log.virtual_size.height == 1 and log.virtual_size.width > log.size.width


# -- 80×24: header, footer, the tree's width --------------------------------------------------------

INFO = HeaderInfo("Deployment Checklist", "20261201T212643Z-4f21", "alice", 3, 94, 7, 49)


@pytest.mark.parametrize("width", range(40, 141, 5))
def test_the_header_never_cuts_the_session_id_and_always_keeps_the_counts(width: int) -> None:
    line = fit_header(INFO, 997, {}, width).plain
    assert len(line) <= width
    assert "3/94" in line and "✘ 7 failed" in line and "▶ 49 running" in line, line
    assert "20261201T212643Z-4f21" in line or "20261201T" not in line, line
    if width >= 80:
        assert "20261201T212643Z-4f21" in line, line


def test_the_header_drops_the_title_first_then_the_operator_then_the_clock() -> None:
    wide = fit_header(INFO, 997, {}, 140).plain
    assert "Deployment Checklist" in wide and "alice" in wide and "elapsed 16:37" in wide
    assert "Deployment Checkl…" in fit_header(INFO, 997, {}, 100).plain
    at_80 = fit_header(INFO, 997, {}, 80).plain
    assert "Deployment" not in at_80 and "alice" in at_80 and "elapsed 16:37" in at_80
    at_60 = fit_header(INFO, 997, {}, 60).plain
    assert "alice" not in at_60 and "elapsed" not in at_60 and "20261201T212643Z-4f21" in at_60
    offline = HeaderInfo(
        "Deployment Checklist",
        "20261201T212643Z-4f21",
        "alice",
        3,
        94,
        0,
        0,
        read_only=True,
        store_status="store offline: 3 changes held locally",
    )
    line = fit_header(offline, 997, {}, 80).plain
    assert "READ-ONLY" in line and "store offline: 3 changes held locally" in line, line


async def test_at_80_columns_the_footer_always_shows_help_and_quit(tmp_path: Path) -> None:
    """The footer ended in `e ▏`: the keys of a failed item with a command pushed ? and q off."""
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("R")
        await settle(pilot)
        await select(pilot, "preflight/slow-probe")
        await pilot.press("r")  # something runs: Cancel joins the footer
        await pilot.pause()
        tree = main(app).query_one(ChecklistTree)
        for node_id in [n for n in tree._nodes_by_id if not n.startswith("rollback-plan/")]:
            await select(pilot, node_id)
            footer = footer_line(app)
            assert "? Help" in footer and "q Quit" in footer, (node_id, footer)
        await pilot.press("c")
        await settle(pilot)


async def test_the_tree_takes_the_full_width_on_t_so_long_titles_are_not_cut(tmp_path: Path) -> None:
    app = held_app(tmp_path)
    title = "Environment variables configured for every service of the release"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert title not in screen_text(app)  # cut at the tree's half of the screen
        assert "t Wide tree" in footer_line(app)
        await pilot.press("t")
        await pilot.pause()
        shown = screen_text(app)
        assert title in shown, shown
        assert "Held probe" in shown.split(title)[1]  # the detail pane, below the tree
        await pilot.press("t")
        await pilot.pause()
        assert title not in screen_text(app)

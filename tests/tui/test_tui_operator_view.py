"""What the operator sees of live state and at small sizes: the tree's running marks, the detail pane's
words, the help's way out, the full-screen log, the header and footer at 80 columns (Pilot)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from deploytui.core.status import Status
from deploytui.tui.app import DeployApp
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from deploytui.tui.widgets.detail_pane import DetailPane
from tests.support.tui_support import SECRET, build_app

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path)


def main(app: DeployApp) -> MainScreen:
    screen = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return screen


def text_of(renderable: object, width: int = 200) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def detail_text(app: DeployApp, width: int = 200) -> str:
    return text_of(main(app).query_one(DetailPane).query_one("#detail-body", Static).content, width)


async def select(pilot: Pilot[int], node_id: str) -> None:
    screen = main(pilot.app)  # type: ignore[arg-type]
    assert screen.query_one(ChecklistTree).select_id(node_id)
    await pilot.pause()
    assert screen.selected_id == node_id


async def settle(pilot: Pilot[int]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


HELD_CHECKLIST = """\
# Held release

## Checks

- [ ] Held probe
- [ ] Queued probe

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


async def until(pilot: Pilot[int], predicate, what: str, rounds: int = 1000) -> None:  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        if predicate():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"never happened: {what}")


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
        assert glyph(app, "checks") == "✔"


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
        took = state.duration_ms
        assert f"failed in {took} ms · by alice at {ran_at}" in detail_text(app)
        await pilot.press("o", *"lint rule is wrong", "enter")
        await pilot.pause()
        state = app.live.session.items["preflight/config-valid"]
        assert state.status is Status.OVERRIDDEN
        text = detail_text(app)
        assert f"failed in {took} ms · overridden by alice at {state.at[11:19]}" in text, text
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

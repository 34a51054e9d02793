"""Pilot helpers the TUI tests share: find the main screen, select a node, wait for workers or for a
condition (never a fixed sleep), and render a Rich renderable to plain text."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator

from rich.console import Console
from textual.pilot import Pilot
from textual.screen import Screen

from deploytui.tui.app import DeployApp
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree


def main_screen(app: DeployApp) -> MainScreen:
    """The main screen, also while a dialog or the help screen is on top of it."""
    return next(s for s in app.screen_stack if isinstance(s, MainScreen))


def rendered_text(renderable: object, width: int = 200) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def select(pilot: Pilot[int], node_id: str) -> None:
    screen = main_screen(pilot.app)  # type: ignore[arg-type]
    assert screen.query_one(ChecklistTree).select_id(node_id)
    await pilot.pause()
    assert screen.selected_id == node_id
    await show_selection(pilot)


async def show_selection(pilot: Pilot[int]) -> None:
    """Bring the detail and run panes up to the cursor now (they follow a cursor move once it rests,
    SELECTION_SETTLE_SECONDS later), then let the app draw them."""
    main_screen(pilot.app).flush_selection()  # type: ignore[arg-type]
    await pilot.pause()


async def settle(pilot: Pilot[int]) -> None:
    """Wait for every worker, then for the messages they posted to be handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()
    if any(isinstance(s, MainScreen) for s in pilot.app.screen_stack):
        await show_selection(pilot)


async def until(pilot: Pilot[int], predicate: Callable[[], object], what: str, rounds: int = 1000) -> None:
    """Let the app process messages until `predicate()` holds (no fixed sleeps)."""
    for _ in range(rounds):
        if predicate():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"never happened: {what}")


@contextlib.contextmanager
def screen_layouts() -> Iterator[list[str]]:
    """Note each whole-screen layout made inside the block, by screen class: Screen._refresh_layout's full
    reflow, not its scroll-only one (a widget scrolled re-places only what is visible)."""
    layouts: list[str] = []
    original = Screen._refresh_layout

    def counting(self: Screen[object], *args: object, **kwargs: object) -> None:
        if not kwargs.get("scroll", args[1] if len(args) > 1 else False):
            layouts.append(type(self).__name__)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    Screen._refresh_layout = counting  # type: ignore[method-assign,assignment]
    try:
        yield layouts
    finally:
        Screen._refresh_layout = original  # type: ignore[method-assign]

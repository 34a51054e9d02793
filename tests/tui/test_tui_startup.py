"""Start-up of the interactive app: the shortcuts that bring the first frame sooner keep what it shows and
what is on disk (benchmarks/bench_startup.py measures the time)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.color import Color
from textual.screen import Screen

from deploytui.core.status import Status
from deploytui.core.threads import no_pause
from deploytui.storage.fs import SessionStore
from deploytui.tui.screens.dialogs import ResumeDialog
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from tests.support.tui_support import SECRET, build_app

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("DEPLOYTUI_TOKEN_UNUSED", "x")
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path)


async def test_decided_session_makes_main_screen_the_first_screen_with_the_session_on_disk(
    tmp_path: Path,
) -> None:
    """--new: MainScreen is the app's first (only) screen, and when it mounts the session already exists
    on disk (the operator can act from the first frame: nothing may be lost)."""
    app = build_app(tmp_path, choice="new")
    on_disk_at_mount: list[bool] = []
    original = MainScreen.on_mount

    def on_mount(self: MainScreen) -> None:
        live = self.deploy_app.live
        on_disk_at_mount.append(SessionStore(tmp_path / "sessions").exists(live.session.id))
        original(self)

    MainScreen.on_mount = on_mount  # type: ignore[method-assign]
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert [type(s) for s in app.screen_stack] == [MainScreen]
            assert on_disk_at_mount == [True]
            # The engine's thread shares the GIL with this one through a flood of output (it naps).
            assert app._engine is not None and app._engine.engine.pause is not no_pause
            screen = app.screen
            assert isinstance(screen, MainScreen)
            assert screen.query_one(ChecklistTree).select_id("preflight/notify-team")
            await pilot.pause()
            await pilot.press("space")
            await pilot.pause()
    finally:
        MainScreen.on_mount = original  # type: ignore[method-assign]
    reread = SessionStore(tmp_path / "sessions").open(app.live.session.id, read_only=True)
    assert reread.session.status_of("preflight/notify-team", app.checklist) is Status.DONE


async def test_the_first_frame_does_not_wait_for_the_disk_and_the_session_is_durable_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--new: no fsync before the first frame (7 of them took 8-14 ms of an ~80 ms first frame on this
    machine's disk; bench_startup.py); once it is up, the checkpoint's thread fsyncs the session (its
    log, its head record, its directory and the sessions dir) before it writes the TOML."""
    app = build_app(tmp_path, choice="new")
    synced: list[tuple[bool, str]] = []
    framed: list[bool] = []
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def sync(fd: int, real=real) -> None:  # type: ignore[no-untyped-def]
            synced.append((bool(framed), os.readlink(f"/proc/self/fd/{fd}")))
            real(fd)

        monkeypatch.setattr(os, name, sync)
    display = app._display

    def on_frame(screen, renderable):  # type: ignore[no-untyped-def]
        if renderable is not None and isinstance(screen, MainScreen):
            framed.append(True)
        return display(screen, renderable)

    app._display = on_frame  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        sessions = tmp_path / "sessions"
        sdir = sessions / app.live.session.id
        assert framed and synced, (framed, synced)
        assert [path for after, path in synced if not after] == []
        done = {path for _after, path in synced}
        assert {str(sdir / "events.jsonl"), str(sdir / "head.json"), str(sdir), str(sessions)} <= done
        assert (sessions / f"{app.live.session.id}.toml").is_file()


async def test_unfinished_session_still_asks_first_then_shows_main_screen(tmp_path: Path) -> None:
    """With an unfinished session and no --new/--resume the resume dialog comes first (over Textual's
    default screen); MainScreen follows the answer."""
    first = build_app(tmp_path, choice="new")
    async with first.run_test(size=SIZE) as pilot:
        await pilot.pause()
    again = build_app(tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(again.screen, ResumeDialog)
        assert again._live is None  # nothing opened or created before the operator answers
        await pilot.click("#new")
        await pilot.pause()
        assert isinstance(again.screen, MainScreen)
        assert type(again.screen_stack[0]) is Screen
        assert again.live.session.id != first.live.session.id


async def test_open_failure_at_start_ends_the_app_with_the_error(tmp_path: Path) -> None:
    """A session that cannot be opened when the app starts ends it with exit 2 and the error kept."""
    app = build_app(tmp_path, session_id="no-such-session")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
    assert app.return_code == 2
    assert app.error is not None and "no-such-session" in str(app.error)


@pytest.mark.parametrize("theme", ["deploytui-day", "deploytui-night", "textual-light"])
async def test_theme_chosen_at_start_styles_like_the_same_theme_switched_to(
    tmp_path: Path, theme: str
) -> None:
    """The start-up theme is set without Textual's watcher (it re-parsed every stylesheet before the first
    frame): the classes, CSS variables and resulting colours equal those of switching to it at run time."""
    switched = build_app(
        tmp_path, choice="new", theme="textual-dark" if "light" in theme else "textual-light"
    )
    async with switched.run_test(size=SIZE) as pilot:
        await pilot.pause()
        switched.theme = theme
        await pilot.pause()
        await pilot.pause()
        want_classes = {c for c in switched.classes if c.startswith("-")}
        want_background = switched.screen.styles.background
        want_tree = switched.screen.query_one(ChecklistTree).styles.background
        want_variables = dict(switched.stylesheet._variables)

    started = build_app(tmp_path, choice="new", theme=theme)
    async with started.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert started.theme == theme
        assert {c for c in started.classes if c.startswith("-")} == want_classes
        assert started.stylesheet._variables == want_variables
        assert started.screen.styles.background == want_background
        assert started.screen.query_one(ChecklistTree).styles.background == want_tree
        assert started.screen.styles.background != Color(0, 0, 0, 0)


async def test_the_first_frame_parses_only_the_main_screens_rules_and_a_dialog_brings_its_own(
    tmp_path: Path,
) -> None:
    """The dialogs' and the sign-off's rules are not in the stylesheet parsed before the first frame;
    opening one adds them, and they style it (its frame, its narrow layout) over Textual's defaults."""
    from textual.containers import Vertical

    from deploytui.tui.screens.dialogs import ConfirmDialog

    def sources(app: object) -> str:
        return "\n".join(css for css, *_ in app.stylesheet.source.values())  # type: ignore[attr-defined]

    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        at_start = sources(app)
        assert "#tree" in at_start and "MainScreen.-narrow" in at_start
        assert ".dialog" not in at_start and "#signoff-body" not in at_start
        app.push_screen(ConfirmDialog("Run it?", "echo hello", id="action-dialog"))
        await pilot.pause()
        assert ".dialog-buttons" in sources(app)
        box = app.screen.query_one(".dialog", Vertical)
        assert box.styles.border_top[0] == "tall"
        assert box.styles.border_top[1] == Color.parse(app.get_css_variables()["error"])
        assert box.styles.width is not None and box.styles.width.value == 100  # -narrow at 80 columns

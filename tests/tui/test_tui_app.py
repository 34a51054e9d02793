"""Behaviour of the interactive app, driven with Pilot: every operator flow changes the saved session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Input, Log

from deploytui.core.session import Tick
from deploytui.core.status import Status
from deploytui.storage.fs import SessionStore
from deploytui.tui.app import DeployApp
from deploytui.tui.screens.dialogs import ConfirmDialog, ResumeDialog, TextDialog
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from deploytui.tui.widgets.detail_pane import DetailPane
from deploytui.tui.widgets.log_panes import RUN_LOG_MAX_LINES
from tests.support.pilot_support import rendered_text, select, settle, until
from tests.support.tui_support import SECRET, build_app, write_project

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("DEPLOYTUI_TOKEN_UNUSED", "x")
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path)


def main(app: DeployApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), f"expected the main screen, got {screen!r}"
    return screen


def status(app: DeployApp, node_id: str) -> Status:
    return app.live.session.status_of(node_id, app.checklist)


def saved_status(tmp: Path, app: DeployApp, node_id: str) -> Status:
    """The status as it is on disk (read back through a fresh read-only open)."""
    live = SessionStore(tmp / "sessions").open(app.live.session.id, read_only=True)
    return live.session.status_of(node_id, app.checklist)


async def test_fresh_session_shows_every_node_pending_and_saves_a_session(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = main(app)
        tree = screen.query_one(ChecklistTree)
        assert tree.selected_id == "preflight"
        assert all(status(app, n.id) is Status.PENDING for n in app.checklist.items())
        assert (tmp_path / "sessions" / f"{app.live.session.id}.toml").is_file()
        assert app.live.session.operator == "alice"


async def test_space_ticks_and_unticks_a_manual_item_and_saves_each_change(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/notify-team")
        await pilot.press("space")
        assert status(app, "preflight/notify-team") is Status.DONE
        assert saved_status(tmp_path, app, "preflight/notify-team") is Status.DONE
        assert app.live.session.items["preflight/notify-team"].by == "alice"
        await pilot.press("space")
        assert saved_status(tmp_path, app, "preflight/notify-team") is Status.PENDING


async def test_skip_requires_a_reason_and_records_it(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "deploy/push-image")
        await pilot.press("s")
        assert isinstance(app.screen, TextDialog)
        await pilot.press("enter")  # empty reason: refused, the dialog stays
        assert isinstance(app.screen, TextDialog)
        assert status(app, "deploy/push-image") is Status.PENDING
        await pilot.press(*"pushed by CI")
        await pilot.press("enter")
        assert isinstance(app.screen, MainScreen)
        state = app.live.session.items["deploy/push-image"]
        assert state.status is Status.SKIPPED
        assert state.reason == "pushed by CI"
        assert saved_status(tmp_path, app, "deploy/push-image") is Status.SKIPPED


async def test_run_one_streams_output_to_the_log_with_secrets_masked(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/tests-pass")
        await pilot.press("r")
        await settle(pilot)
        assert status(app, "preflight/tests-pass") is Status.PASSED
        assert status(app, "preflight/config-valid") is Status.PENDING  # only the selected item ran
        lines = main(app).query_one("#run-log", Log).lines
        assert "ok" in lines
        shown = "\n".join(lines)
        assert SECRET not in shown and "[secret:DEPLOY_TOKEN]" in shown
        activity = "\n".join(main(app).query_one("#activity-log", Log).lines)
        assert "preflight/tests-pass" in activity and "passed" in activity


async def test_run_all_runs_every_check_but_never_an_action(tmp_path: Path) -> None:
    config = write_project(tmp_path, quick=True)
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("R")
        await settle(pilot)
        assert status(app, "preflight/tests-pass") is Status.PASSED
        assert status(app, "preflight/config-valid") is Status.FAILED
        assert status(app, "preflight/slow-probe") is Status.PASSED
        assert status(app, "preflight") is Status.FAILED  # derived from its children
        assert not (tmp_path / "notified.txt").exists()  # the fenced action did not run
        reason = app.live.session.items["preflight/config-valid"].checks["preflight/config-valid#1"].reason
        assert "exit" in reason


async def test_override_needs_a_failure_and_a_note(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/config-valid")
        await pilot.press("o")  # not failed yet: nothing to override
        assert isinstance(app.screen, MainScreen)
        await pilot.press("r")
        await settle(pilot)
        assert status(app, "preflight/config-valid") is Status.FAILED
        await pilot.press("o")
        assert isinstance(app.screen, TextDialog)
        await pilot.press(*"lint rule is wrong, ticket OPS-12", "enter")
        assert status(app, "preflight/config-valid") is Status.OVERRIDDEN
        assert saved_status(tmp_path, app, "preflight/config-valid") is Status.OVERRIDDEN
        history = app.live.session.items["preflight/config-valid"].history
        assert history[-1].why.endswith("OPS-12") or "OPS-12" in history[-1].why


async def test_override_on_a_section_says_how_many_failed_items_it_accepts(tmp_path: Path) -> None:
    """`o` on a section overrides every failed item under it: the dialog counts and names them (it read
    'Accept this failure?' with the section's title, hiding that several items would be overridden)."""
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/config-valid")
        await pilot.press("r")
        await settle(pilot)
        assert status(app, "preflight/config-valid") is Status.FAILED
        await select(pilot, "preflight")
        await pilot.press("o")
        dialog = app.screen
        assert isinstance(dialog, TextDialog)
        shown = " ".join(rendered_text(w.render()) for w in dialog.query("Static, Label"))
        assert "1 failed item(s) under Preflight" in shown and "(Config valid)" in shown, shown


async def test_note_is_added_without_changing_the_status(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/notify-team")
        await pilot.press("n", *"posted in #deploys", "enter")
        state = app.live.session.items["preflight/notify-team"]
        assert state.note == "posted in #deploys"
        assert state.status is Status.PENDING


async def test_cancel_stops_a_running_check(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/slow-probe")
        await pilot.press("r")
        await until(pilot, lambda: status(app, "preflight/slow-probe") is Status.RUNNING, "the probe runs")
        await pilot.press("c")
        await settle(pilot)
        # A cancelled run leaves the item as its checks were before it, and says who cancelled it.
        check = app.live.session.items["preflight/slow-probe"].checks["preflight/slow-probe#2"]
        assert check.reason == "cancelled by alice"
        assert status(app, "preflight/slow-probe") is Status.PENDING
        assert not main(app).pending_runs and not app.live.session.running()


async def test_cancel_all_stops_every_run(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("R")
        await until(pilot, lambda: status(app, "preflight/slow-probe") is Status.RUNNING, "the probe runs")
        await pilot.press("C")
        await settle(pilot)
        assert (
            "cancelled"
            in app.live.session.items["preflight/slow-probe"].checks["preflight/slow-probe#2"].reason
        )
        assert not app.live.session.running() and not main(app).pending_runs


async def test_action_runs_only_after_confirming_the_exact_command_with_secrets_masked(
    tmp_path: Path,
) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "deploy/push-image")
        await pilot.press("x")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        body = rendered_text(dialog.body)
        assert "pushing with token" in body
        assert SECRET not in body and "[secret:DEPLOY_TOKEN]" in body
        await pilot.press("escape")  # cancel: nothing runs
        await settle(pilot)
        assert not app.live.session.items["deploy/push-image"].actions

        await select(pilot, "preflight/notify-team")
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")  # focus starts on Cancel: Enter cancels
        await settle(pilot)
        assert not (tmp_path / "notified.txt").exists()
        await pilot.press("x")
        await pilot.pause()
        await pilot.click("#confirm")
        await settle(pilot)
        assert (tmp_path / "notified.txt").read_text().strip() == "notified"
        runs = app.live.session.items["preflight/notify-team"].actions
        assert len(runs) == 1 and runs[0].exit_code == 0 and runs[0].by == "alice"
        # The run pane says how the run ended, under its output (it stopped at the output, untitled).
        from deploytui.tui.widgets.log_panes import LogPanes

        shown = list(main(app).query_one(LogPanes).run_log.lines)
        assert shown[0] == "── action 1: bash: echo notified > notified.txt ──", shown
        assert shown[-1].startswith("── ✔ passed"), shown
        # The detail pane says how the command last ended (the item's status does not).
        detail = rendered_text(main(app).query_one(DetailPane).shown[1])
        assert "✔ last run: exit 0 by alice" in detail, detail


async def test_filter_by_text_and_by_status(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/config-valid")
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("slash", *"push")
        tree = main(app).query_one(ChecklistTree)
        assert tree.visible_ids == {"deploy", "deploy/push-image"}
        filt = main(app).query_one("#filter", Input)
        filt.value = "is:failed"
        await pilot.pause()
        assert tree.visible_ids == {"preflight", "preflight/config-valid"}
        await pilot.press("escape")
        assert tree.visible_ids is None
        assert not filt.display
        # A filter that matches nothing says so (the tree alone is just empty).
        await pilot.press("slash", *"is:error", "enter")
        await pilot.pause()
        assert not tree.visible_ids
        assert any("Nothing matches 'is:error'" in n.message for n in app._notifications)


async def test_f_jumps_to_the_next_failure_first_then_to_pending_items(tmp_path: Path) -> None:
    config = write_project(tmp_path, quick=True)
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("R")
        await settle(pilot)
        await select(pilot, "preflight/tests-pass")
        visited = []
        for _ in range(4):
            await pilot.press("f")
            visited.append(main(app).selected_id)
        # the failure comes before any pending item: from elsewhere f goes to it, from it to the next pending
        # item (passed items are stepped over)
        assert visited == [
            "preflight/config-valid",
            "preflight/notify-team",
            "preflight/config-valid",
            "preflight/notify-team",
        ]
        await select(pilot, "preflight/config-valid")
        await pilot.press("o", *"accepted", "enter")  # overridden: no failure is left
        await settle(pilot)
        visited = []
        for _ in range(3):
            await pilot.press("f")
            visited.append(main(app).selected_id)
        assert visited == ["preflight/notify-team", "deploy/push-image", "preflight/notify-team"]


async def test_resume_after_sigkill_shows_finished_items_and_running_ones_interrupted(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    sessions = tmp_path / "sessions"
    # A real process creates the session, ticks one item, starts a check, and is killed mid-run.
    script = textwrap.dedent(f"""
        import os, signal
        from deploytui.services.project import resolve
        from deploytui.core.session import RunStarted, Tick
        from deploytui.storage.fs import SessionStore
        checklist, _ = resolve({str(config)!r}, None)
        live = SessionStore({str(sessions)!r}).create(checklist, "bob")
        live.apply(Tick("preflight/notify-team", "bob"))
        live.apply(RunStarted("preflight/slow-probe", "preflight/slow-probe#2", "r1", "bob"))
        print(live.session.id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    session_id = proc.stdout.strip()

    app = build_app(tmp_path, config=config, choice="resume")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.live.session.id == session_id
        assert status(app, "preflight/notify-team") is Status.DONE
        assert status(app, "preflight/slow-probe") is Status.INTERRUPTED
        assert app.live.session.items["preflight/notify-team"].by == "bob"
        assert any("1 interrupted" in n.message for n in app._notifications)
        # The header tells an interrupted run (rerun it) from a failure.
        from deploytui.tui.widgets.header_bar import HeaderBar

        header = str(app.screen.query_one(HeaderBar).render())
        assert "↯ 1 interrupted" in header and "failed" not in header, header


async def test_unfinished_session_offers_resume_or_new(tmp_path: Path) -> None:
    first = build_app(tmp_path, choice="new")
    async with first.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/notify-team")
        await pilot.press("space")
        first_id = first.live.session.id

    again = build_app(tmp_path)  # no --resume/--new: ask
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(again.screen, ResumeDialog)
        await pilot.click("#resume")
        await pilot.pause()
        assert again.live.session.id == first_id
        assert status(again, "preflight/notify-team") is Status.DONE

    fresh = build_app(tmp_path)
    async with fresh.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.click("#new")
        await pilot.pause()
        assert fresh.live.session.id != first_id
        assert status(fresh, "preflight/notify-team") is Status.PENDING


async def test_flood_of_output_keeps_the_pane_bounded_and_the_full_log_on_disk(tmp_path: Path) -> None:
    lines = 300_000
    config = write_project(tmp_path, flood=lines)
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "deploy/flood-output")
        await pilot.press("r")
        # Keys keep working while the output streams: move away and back.
        await pilot.press("up", "down")
        await settle(pilot)
        assert status(app, "deploy/flood-output") is Status.PASSED
        log = main(app).query_one("#run-log", Log)
        assert log.line_count <= RUN_LOG_MAX_LINES
        assert log.lines[-2] == str(lines) and log.lines[-1].startswith("── ✔ passed")  # then how it ended
        result = app.live.session.items["deploy/flood-output"].checks["deploy/flood-output#3"]
        on_disk = (app.live.dir / result.log).read_text().splitlines()
        assert str(lines) in on_disk[-3:] and len(on_disk) >= lines


async def test_quit_while_running_asks_first(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/slow-probe")
        await pilot.press("r")
        await until(pilot, lambda: status(app, "preflight/slow-probe") is Status.RUNNING, "the probe runs")
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and app.is_running
        await pilot.press("C")
        await settle(pilot)


async def test_read_only_session_refuses_changes(tmp_path: Path) -> None:
    first = build_app(tmp_path, choice="new")
    async with first.run_test(size=SIZE) as pilot:
        await pilot.pause()
        session_id = first.live.session.id
    viewer = build_app(tmp_path, session_id=session_id, read_only=True)
    async with viewer.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/notify-team")
        await pilot.press("space", "s")
        assert isinstance(viewer.screen, MainScreen)
        assert status(viewer, "preflight/notify-team") is Status.PENDING
        # The owner ticks it in another process: the viewer follows.
        owner = SessionStore(tmp_path / "sessions").open(session_id, checklist=viewer.checklist)
        try:
            owner.apply(Tick("preflight/notify-team", "bob"))
        finally:
            owner.close()
        await until(
            pilot, lambda: status(viewer, "preflight/notify-team") is Status.DONE, "the viewer follows"
        )
        label = main(viewer).query_one(ChecklistTree).cursor_node.label  # type: ignore[union-attr]
        assert str(label).startswith("☑")


async def test_help_lists_keys_as_remapped_in_the_user_keymap(tmp_path: Path) -> None:
    settings = tmp_path / "user-config" / "settings.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text('[keymap]\ntick = "t"\n')
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/notify-team")
        await pilot.press("t")
        assert status(app, "preflight/notify-team") is Status.DONE
        await pilot.press("question_mark")
        await pilot.pause()
        from deploytui.tui.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        assert ("t", "Tick") in [(k, d) for k, d, _ in app.screen.rows]
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_theme_chosen_in_the_app_is_remembered_and_bad_theme_files_are_reported(tmp_path: Path) -> None:
    themes = tmp_path / "user-config" / "themes"
    themes.mkdir(parents=True)
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\nerror = "#12"\n')
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "deploytui-night"
        assert "broken" not in app.available_themes
        messages = [n.message for n in app._notifications]
        assert any("not-a-colour" in m and "'#12'" in m for m in messages), messages
        app.theme = "deploytui-day"
        await pilot.pause()
        await pilot.pause()
    settings = (tmp_path / "user-config" / "settings.toml").read_text()
    assert 'theme = "deploytui-day"' in settings

    again = build_app(tmp_path, choice="new")
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "deploytui-day"


async def test_unknown_theme_falls_back_with_a_notice(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new", theme="no-such-theme")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "deploytui-night"
        assert any("no-such-theme" in n.message for n in app._notifications)


async def test_palette_lists_the_screen_commands(tmp_path: Path) -> None:
    from deploytui.tui.palette import DeployCommands

    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/tests-pass")
        provider = DeployCommands(app.screen)
        names = [name for name, _help, _cb in provider._commands()]
        assert "Run" in names and "Skip" in names and "Sign-off" in names
        assert "Action" not in names  # this item has no fenced command


def test_importing_the_cli_does_not_import_textual() -> None:
    code = (
        "import sys, deploytui.cli, deploytui.cli.check, deploytui.cli.record, deploytui.services.runs;"
        " print('textual' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"


async def test_session_held_by_another_process_exits_with_a_one_line_error(tmp_path: Path) -> None:
    first = build_app(tmp_path, choice="new")
    async with first.run_test(size=SIZE) as pilot:
        await pilot.pause()
        session_id = first.live.session.id
    holder = SessionStore(tmp_path / "sessions").open(session_id, checklist=first.checklist)
    try:
        second = build_app(tmp_path, session_id=session_id)
        async with second.run_test(size=SIZE) as pilot:
            await pilot.pause()
        assert second.return_code == 2
        assert second.error is not None and "--read-only" in str(second.error)
        assert "\n" not in str(second.error)
    finally:
        holder.close()


async def test_mouse_click_selects_a_node_and_presses_buttons(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tree = main(app).query_one(ChecklistTree)
        row = next(
            i for i in range(tree.last_line + 1) if tree.get_node_at_line(i).data == "deploy/push-image"
        )
        await pilot.click(ChecklistTree, offset=(8, row))
        await pilot.pause()
        assert main(app).selected_id == "deploy/push-image"


async def test_a_secret_quoted_in_the_checklist_is_masked_in_the_tree(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    checklist = tmp_path / "checklist.md"
    checklist.write_text(checklist.read_text().replace("- [ ] Push image", f"- [ ] Rotate {SECRET} today"))
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tree = main(app).query_one(ChecklistTree)
        labels = [str(tree.get_node_at_line(i).label) for i in range(tree.last_line + 1)]
        assert any("Rotate [secret:DEPLOY_TOKEN] today" in label for label in labels), labels
        assert not any(SECRET in label for label in labels)


async def test_keys_typed_right_behind_a_cursor_key_act_on_the_node_the_cursor_is_on(tmp_path: Path) -> None:
    """`j space` typed at once (a fast typist, typed-ahead keys): the tree's NodeFocused message comes
    after the queued space, which ticked the node before (or, on a section, was dropped) and could tick
    the wrong item at 2 a.m."""
    from deploytui.tui.widgets.checklist_tree import ChecklistTree as Tree

    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.screen.query_one(Tree)
        first_section = tree.selected_id
        # Both keys queued before either is handled, as when they arrive in one read from the terminal.
        app.post_message(events.Key("j", "j"))
        app.post_message(events.Key("space", " "))
        app.post_message(events.Key("j", "j"))
        app.post_message(events.Key("space", " "))
        await pilot.pause()
        await pilot.pause()
        ticked = [i for i, s in app.live.session.items.items() if s.status.value == "done"]
        items = [n.id for n in app.checklist.items() if not n.children]
        assert first_section not in ticked
        assert ticked == items[:2], ticked


async def test_space_on_an_item_with_open_sub_items_says_so_instead_of_a_tick_that_shows_nothing(
    tmp_path: Path,
) -> None:
    """The bundled checklist's "Code review completed" has three sub-items: its status is theirs, so a
    tick on it was recorded and changed nothing on screen."""
    (tmp_path / "list.md").write_text(
        "# T\n\n## A\n\n- [ ] Code review\n  - [ ] Security\n  - [ ] Performance\n", encoding="utf-8"
    )
    config = tmp_path / "nested.toml"
    config.write_text('checklist = "list.md"\n', encoding="utf-8")
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "a/code-review")
        await pilot.press("space")
        await pilot.pause()
        assert app.live.session.items["a/code-review"].status is Status.PENDING
        assert any("2 still open" in n.message for n in app._notifications)
        for child in ("a/code-review/security", "a/code-review/performance"):
            await select(pilot, child)
            await pilot.press("space")
        assert status(app, "a/code-review") is Status.DONE


async def test_cursor_moves_refresh_the_footer_once_the_cursor_rests(tmp_path: Path) -> None:
    """A held cursor key does not recompose the footer on every move that changes the keys that apply
    (it held the next key up on big checklists): the footer follows once the cursor rests."""
    app = build_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = main(app)
        tree = screen.query_one(ChecklistTree)
        by_title = {n.title: n.id for n in app.checklist.items()}
        await select(pilot, by_title["Config valid"])
        await pilot.pause(0.2)
        refreshes: list[str | None] = []
        original = screen.refresh_bindings

        def counting() -> None:
            refreshes.append(screen.selected_id)
            original()

        screen.refresh_bindings = counting  # type: ignore[method-assign]
        # Moves in one go, as repeated keys arrive: onto the item with a command (x applies), past it,
        # and back: the footer refreshes once, for where the cursor rests.
        for title in ("Notify team", "Slow probe", "Notify team"):
            tree.select_id(by_title[title])
            screen._node_focused(ChecklistTree.NodeFocused(tree, by_title[title]))
        assert refreshes == []
        await until(pilot, lambda: bool(refreshes), "the footer to refresh")
        await pilot.pause(0.2)
        assert refreshes == [by_title["Notify team"]]
        assert screen._footer_signature == screen._bindings_signature()


async def test_run_events_leave_the_footer_alone_unless_its_keys_change(tmp_path: Path) -> None:
    # The footer recomposes (~20 keys mounted and styled) on each refresh; refreshed on every run event
    # it took over half the event loop during R, and checks timed meanwhile measured it.
    from textual.widgets._footer import FooterKey

    from deploytui.tui.widgets.footer import DeployFooter

    config = write_project(tmp_path, quick=True)
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/tests-pass")
        await settle(pilot)

        def keys() -> list[int]:
            return [id(k) for k in main(app).query_one(DeployFooter).query(FooterKey)]

        before = keys()
        screen = main(app)
        for _ in range(5):
            screen._redraw(["preflight/tests-pass"])  # what each run event ends with
        await settle(pilot)
        assert keys() == before
        await pilot.press("r")  # a run changes the keys that apply: the footer follows
        await settle(pilot)
        assert status(app, "preflight/tests-pass") is Status.PASSED


async def test_a_check_is_timed_on_the_engines_own_loop_not_behind_the_app(tmp_path: Path) -> None:
    # The app's loop draws, lays out and saves; a check timed on it measured that work too (a Redis
    # PING read 1.2 s during R on a loaded machine). The engine has a loop of its own (EngineThread):
    # a 1 s command still takes ~1 s while the app's loop is held up for 3 s.
    import time

    config = write_project(tmp_path, quick=True)
    config.write_text(config.read_text().replace('run = "true"', 'run = "sleep 1"'))
    app = build_app(tmp_path, config=config, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "preflight/slow-probe")
        await pilot.press("r")
        await until(pilot, lambda: status(app, "preflight/slow-probe") is Status.RUNNING, "the run began")
        time.sleep(3)  # the app's loop does nothing else meanwhile: as a long layout would
        await settle(pilot)
        assert status(app, "preflight/slow-probe") is Status.PASSED
        run = app.live.session.items["preflight/slow-probe"].checks["preflight/slow-probe#2"]
        assert run.duration_ms is not None and run.duration_ms < 2500, run.duration_ms

"""The sign-off screen: prefilled form, acknowledging open items, finishing, export, signing, rollback."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, Input, RadioButton

from deploytui.core.session import Skip
from deploytui.services.records import verify_record
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.screens.signoff import SignoffScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from tests.support.tui_support import FROZEN_NOW, SECRET, build_app, write_project

SIZE = (120, 40)


pytestmark = pytest.mark.usefixtures("tui_home")


def radio(screen: SignoffScreen, label: str) -> RadioButton:
    return next(b for b in screen.query(RadioButton) if str(b.label) == label)


async def open_signoff(pilot) -> SignoffScreen:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await pilot.press("e")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, SignoffScreen)
    return screen


async def test_form_is_prefilled_and_open_items_must_be_acknowledged_before_finishing(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new", clock=lambda: FROZEN_NOW)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_signoff(pilot)
        assert screen.query_one("#field-deployed-by", Input).value == "alice"
        assert screen.query_one("#field-date", Input).value == "2026-11-25"
        assert screen.query_one("#field-time", Input).value == "02:14 UTC"
        radio(screen, "Success").value = True
        await pilot.pause()
        screen.query_one("#record-path", Input).value = str(tmp_path / "record.md")
        await pilot.click("#export")
        await pilot.pause()
        assert app.screen is screen and not app.live.session.finished  # not acknowledged yet
        assert "Acknowledge" in str(screen.query_one("#signoff-error").render())
        assert not (tmp_path / "record.md").exists()
        screen.query_one("#ack", Checkbox).value = True
        screen.query_one("#export", Button).press()  # a second click within 0.2 s is the same click
        await pilot.pause()
        assert isinstance(app.screen, MainScreen), screen.query_one("#signoff-error").render()
        assert app.live.session.finished and app.live.session.result == "success"
        assert app.live.session.signoff["deployed-by"] == "alice"
        record = (tmp_path / "record.md").read_text()
        assert "alice" in record and app.live.session.id in record
        assert SECRET not in record
        # A finished session takes no more changes: the keys that would change it are off.
        assert main_refuses_tick(app)


def main_refuses_tick(app) -> bool:  # type: ignore[no-untyped-def]
    screen = app.screen
    return isinstance(screen, MainScreen) and screen.check_action("tick", ()) is False


async def test_rollback_result_opens_the_rollback_procedure_in_the_tree(tmp_path: Path) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_signoff(pilot)
        assert not screen.query_one("#rollback").display
        await pilot.click(radio(screen, "Rollback"))  # choosing Rollback goes to the procedure
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        assert main.selected_id == app.checklist.rollback_id == "rollback-plan"
        tree = main.query_one(ChecklistTree)
        assert tree.cursor_node is not None and tree.cursor_node.is_expanded
        assert not app.live.session.finished  # the rollback is still to be walked
        assert app.live.session.signoff["result"] == "Rollback"
        # Back on the form (saved as Rollback), it stays open; its button leads to the procedure again.
        await pilot.press("e")
        await pilot.pause()
        again = app.screen
        assert isinstance(again, SignoffScreen) and radio(again, "Rollback").value
        assert again.query_one("#rollback").display
        await pilot.click("#rollback")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_export_signed_with_an_ssh_key_verifies_with_ssh_keygen(tmp_path: Path) -> None:
    ssh = tmp_path / "ssh"
    ssh.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@test", "-f", str(ssh / "id_test")],
        check=True,
    )
    # Nobody countersigns in this project: the sign-off records it, and verify accepts one signature.
    project = write_project(tmp_path, extra="\n[signoff]\nreviewers = 0\n")
    app = build_app(tmp_path, config=project, choice="new", ssh_dir=ssh)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for node in app.checklist.items():
            if not node.children:  # (the skip dialog itself is tested in test_tui_app)
                app.live.apply(Skip(node.id, "alice", "not in this test"))
        screen = await open_signoff(pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [k.path for k in screen.keys] == [ssh / "id_test.pub"]  # found in the ssh dir
        assert not screen.query("#ack")  # nothing open: nothing to acknowledge
        radio(screen, "Success").value = True
        screen.query_one("#record-path", Input).value = str(tmp_path / "signed.md")
        screen.query_one("#key-path", Input).value = str(ssh / "id_test")
        await pilot.click("#export")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen), screen.query_one("#signoff-error").render()
        exported = app.live.session.record  # the session notes where its record went (`sessions` lists it)
        assert exported is not None and exported.path == str(tmp_path / "signed.md") and exported.signed
    pub = (ssh / "id_test.pub").read_text().split()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'alice namespaces="deploytui-record" {pub[0]} {pub[1]}\n')
    report = verify_record(tmp_path / "signed.md", allowed)
    assert report.ok, report.lines()


async def test_whole_form_by_keyboard_signs_with_an_agent_key_and_shows_focus_and_choices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person with only a keyboard: the form opens on its first field, the focused field is marked by a
    bar (not only a colour), the open count is the header's, the Result choice shows ● for the chosen
    one and ○ for the other, and the key list (Enter opens it) offers the ssh-agent's key."""
    from textual.widgets import Select

    from deploytui.core.session import Tick
    from deploytui.tui.screens.signoff import Choice

    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        key = tmp_path / "deployer"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "agent-key", "-f", str(key)], check=True
        )
        for _ in range(100):
            if sock.exists():
                break
            await asyncio.sleep(0.05)
        env = {"SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(key)], check=True, env=env, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        empty_ssh = tmp_path / "no-ssh-dir"
        empty_ssh.mkdir()
        app = build_app(tmp_path, choice="new", ssh_dir=empty_ssh)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            items = [n.id for n in app.checklist.items() if not n.children]
            app.live.apply(Tick(items[0], "alice"))
            app.live.apply(Skip(items[1], "alice", "not this time"))
            counts = app.live.session.counts(app.checklist)
            total = sum(counts.values())
            done = sum(n for status, n in counts.items() if status.is_complete)
            screen = await open_signoff(pilot)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert f"Still open: {total - done} of {total}" in str(screen.query_one("#signoff-open").render())

            def focused_field_marked() -> bool:
                field = next(a for a in screen.focused.ancestors_with_self if a.has_class("field"))
                others = [f for f in screen.query(".field") if f is not field]
                return field.styles.border_left[0] == "outer" and all(
                    f.styles.border_left[0] != "outer" for f in others
                )

            assert screen.focused is screen.query_one("#ack") and focused_field_marked()
            await pilot.press("space", "tab", "tab", *"Bob Reviewer", "tab", "tab", "tab")
            assert screen.query_one("#field-reviewed-by", Input).value == "Bob Reviewer"
            assert screen.focused is screen.query_one("#field-result") and focused_field_marked()
            choices = list(screen.query(Choice))
            assert [str(c.render()).split()[0] for c in choices] == ["▐○▌", "▐○▌"]
            await pilot.press("space")  # the highlighted first choice: Success
            await pilot.pause()
            assert [str(c.render()).split()[0] for c in choices] == ["▐●▌", "▐○▌"]
            record = tmp_path / "kbd.md"
            await pilot.press("tab", "tab", *str(record), "tab")
            select = screen.query_one("#key-select", Select)
            assert screen.focused is select and focused_field_marked()
            await pilot.press("enter")  # opens the list
            await pilot.pause()
            assert select.expanded
            await pilot.press("down", "enter")
            await pilot.pause()
            assert select.value == "0" and "(agent)" in screen.keys[0].label
            await pilot.press("ctrl+e")
            await pilot.pause()
            assert isinstance(app.screen, MainScreen), screen.query_one("#signoff-error").render()
    finally:
        agent.terminate()
        agent.wait(5)
    pub = key.with_suffix(".pub").read_text().split()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'alice namespaces="deploytui-record" {pub[0]} {pub[1]}\n')
    lines = verify_record(record, allowed).lines()
    assert any(line.startswith("deployer") and line.endswith(" good") for line in lines), lines


async def test_back_keeps_what_was_typed_for_the_next_opening(tmp_path: Path) -> None:
    """Esc says the form is kept: a reviewer's name and a chosen Result are there when `e` reopens it."""
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_signoff(pilot)
        events = len(app.live.session.signoff)
        await pilot.press("escape")  # nothing changed: nothing saved
        await pilot.pause()
        assert len(app.live.session.signoff) == events
        screen = await open_signoff(pilot)
        screen.query_one("#field-reviewed-by", Input).value = "Bob Reviewer"
        radio(screen, "Success").value = True
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        screen = await open_signoff(pilot)
        assert screen.query_one("#field-reviewed-by", Input).value == "Bob Reviewer"
        assert radio(screen, "Success").value

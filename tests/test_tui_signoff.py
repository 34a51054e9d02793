"""The sign-off screen: prefilled form, acknowledging open items, finishing, export, signing, rollback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, Input, RadioButton

from deploytui.commands.record_cmd import verify_record
from deploytui.core.session import Skip
from deploytui.tui.screens.main import MainScreen
from deploytui.tui.screens.signoff import SignoffScreen
from deploytui.tui.widgets.checklist_tree import ChecklistTree
from tests.tui_support import FROZEN_NOW, SECRET, build_app

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path)


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
    app = build_app(tmp_path, choice="new", ssh_dir=ssh)
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
    pub = (ssh / "id_test.pub").read_text().split()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'alice namespaces="deploytui-record" {pub[0]} {pub[1]}\n')
    report = verify_record(tmp_path / "signed.md", allowed)
    assert report.ok, report.lines()

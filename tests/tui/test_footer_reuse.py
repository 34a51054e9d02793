"""The footer shows the keys that apply by re-using the keys it shows (DeployFooter.recompose): what it
shows after any walk equals what Textual's own recompose (every key removed and mounted again) shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widget import Widget
from textual.widgets._footer import FooterKey

from deploytui.tui.widgets.footer import DeployFooter
from tests.support.pilot_support import main_screen, settle, until
from tests.support.tui_support import SECRET, build_app


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("DEPLOY_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path)


def _shown(footer: DeployFooter) -> list[tuple[str, str, str, bool, bool, bool]]:
    return [
        (
            key.key_display,
            key.description,
            key.action,
            key.has_class("-disabled"),
            key.has_class("-command-palette"),
            key.display,
        )
        for key in footer.query(FooterKey)
    ]


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_walking_the_tree_the_footer_shows_what_a_full_recompose_shows(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = build_app(tmp_path, choice="new")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = main_screen(app)
        footer = screen.query_one(DeployFooter)
        seen_widgets: set[int] = {id(w) for w in footer.query(FooterKey)}
        reused = 0
        kinds_of_rows: set[tuple[tuple[str, str, str, bool, bool, bool], ...]] = set()
        for _ in range(25):
            await pilot.press("down")
            await until(pilot, lambda: screen._footer_timer is None, "the footer's settle")
            await pilot.pause()
            shown = _shown(footer)
            widgets = {id(w) for w in footer.query(FooterKey)}
            reused += len(widgets & seen_widgets)
            seen_widgets |= widgets
            done: list[bool] = []

            async def full(footer: DeployFooter = footer, done: list[bool] = done) -> None:
                await Widget.recompose(footer)  # Textual's: every key made and mounted afresh
                done.append(True)

            footer.call_later(full)  # in the footer's own context, as its refresh runs it
            await until(pilot, lambda done=done: bool(done), "Textual's recompose")
            await pilot.pause()
            assert _shown(footer) == shown
            kinds_of_rows.add(tuple(shown))
            seen_widgets |= {id(w) for w in footer.query(FooterKey)}
        assert len(kinds_of_rows) > 1  # the walk crossed nodes with other keys
        assert reused  # and shown keys took the new bindings in place

"""Help: every key of the working screen (as remapped by the user), the status glyphs and markers."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Static

from deploytui.core.status import Status
from deploytui.tui.present import ACTION_MARK, CHECK_MARK, GLYPHS, ROLLBACK_MARK
from deploytui.tui.screens.dialogs import DialogScreen
from deploytui.tui.themes import status_colors

KEY_NAMES = {"escape": "Esc", "question_mark": "?", "space": "space"}
"""How the close keys are written on the help's title line."""

STATUS_MEANINGS: dict[Status, str] = {
    Status.PENDING: "not done yet",
    Status.RUNNING: "a check or a step is running (or queued)",
    Status.PASSED: "its checks passed",
    Status.FAILED: "a check failed",
    Status.ERROR: "a check could not run (config, missing variable)",
    Status.DONE: "ticked by hand",
    Status.SKIPPED: "skipped, with a reason",
    Status.OVERRIDDEN: "failed, accepted with a note",
    Status.INTERRUPTED: "was running when deploytui stopped, or cancelled",
    Status.FLAKY: "passed only after a failed attempt (retry): counts as passing, shown apart",
    Status.BLOCKED: "not run: a check it comes after did not pass",
}


class HelpScreen(DialogScreen[None]):
    DEFAULT_CSS = """
    HelpScreen .help-dialog {
        max-width: 110;
        height: 90%;
    }

    HelpScreen.-narrow .help-dialog {
        height: 100%;
    }

    HelpScreen .help-title {
        height: 1;
        margin-bottom: 1;
    }

    HelpScreen.-narrow .help-title {
        margin-bottom: 0;
    }

    HelpScreen .help-title .dialog-title {
        margin-bottom: 0;
    }

    HelpScreen #help-close {
        width: auto;
        color: $accent;
        text-style: bold;
    }

    HelpScreen .help-dialog .dialog-body {
        height: 1fr;
        max-height: 100%;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__(id="help")
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help-dialog"):
            # The way out is on the title line, which no height can push off the screen (a hint under
            # the keys fell below a 40-line terminal).
            with Horizontal(classes="help-title"):
                yield Label("deploytui — keys", classes="dialog-title")
                yield Label(f"{self._close_keys()} close · ↑ ↓ scroll", id="help-close")
            with VerticalScroll(classes="dialog-body", id="help-scroll"):
                yield Static(self._content(), id="help-body")
            yield Static(
                Text(
                    "Every key can be remapped in settings.toml [keymap] · "
                    "every command is also in the palette (ctrl+p)"
                ),
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).focus()  # arrows scroll the keys at once

    def _close_keys(self) -> str:
        """The keys that close the help, as mapped now (a user keymap may rebind help.close)."""
        keys = [
            binding.key
            for _node, binding, _enabled, _tooltip in self.active_bindings.values()
            if binding.action == "close"
        ]
        shown = [KEY_NAMES.get(k, k) for k in keys] or ["esc"]
        return " / ".join(dict.fromkeys(shown))

    def _content(self) -> Group:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style=Style(bold=True), no_wrap=True)
        keys.add_column(no_wrap=True)
        keys.add_column(style=Style(dim=True))
        for key, description, tooltip in self.rows:
            keys.add_row(key, description, tooltip)
        colors = status_colors(self.app.current_theme)
        legend = Table.grid(padding=(0, 2))
        legend.add_column(no_wrap=True)
        legend.add_column()
        for status, meaning in STATUS_MEANINGS.items():
            legend.add_row(
                Text(f"{GLYPHS[status]} {status.value}", Style(color=colors[status], bold=True)), meaning
            )
        legend.add_row(
            Text(f"{CHECK_MARK}  check", Style(bold=True)),
            "the item has bound checks: they only read (r runs them)",
        )
        legend.add_row(
            Text(f"{ACTION_MARK}  step", Style(bold=True)),
            "the node has a world-changing step: a command, a bound action, webhook or dump"
            " (x runs it, after confirming; ticking the item stays yours)",
        )
        legend.add_row(
            Text(f"{ROLLBACK_MARK}  rollback", Style(bold=True)), "the rollback procedure (outside progress)"
        )
        return Group(
            keys, Text(""), Text("Statuses and markers", style=Style(bold=True, underline=True)), legend
        )

    def action_close(self) -> None:
        self.dismiss(None)

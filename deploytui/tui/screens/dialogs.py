"""Modal dialogs: confirm (actions, quit), a required text (skip reason, override note, note), resume."""

from __future__ import annotations

from typing import ClassVar

from rich.console import RenderableType
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmDialog(ModalScreen[bool]):
    """Yes/no with a body (e.g. the exact command an action will run). Escape answers no."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Close without doing anything"),
    ]

    def __init__(
        self,
        title: str,
        body: RenderableType,
        *,
        confirm: str = "Run",
        danger: bool = True,
        id: str | None = None,  # noqa: A002 - Textual names it id
    ) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.body = body
        self.confirm_label = confirm
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)  # checklist text, not markup
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body, id="confirm-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(
                    self.confirm_label,
                    id="confirm",
                    variant="error" if self.danger else "primary",
                    compact=True,
                )

    def on_mount(self) -> None:
        # Focus starts on Cancel: a stray Enter must not run a command that changes production.
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class TextDialog(ModalScreen[str | None]):
    """One line of text (a skip reason, an override note, a note). Required text cannot be empty."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Close without saving"),
    ]

    def __init__(
        self,
        title: str,
        prompt: str,
        *,
        placeholder: str = "",
        initial: str = "",
        required: bool = True,
        confirm: str = "Save",
        id: str | None = None,  # noqa: A002 - Textual names it id
    ) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.prompt = prompt
        self.placeholder = placeholder
        self.initial = initial
        self.required = required
        self.confirm_label = confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)  # checklist text, not markup
            yield Static(self.prompt, classes="dialog-prompt", markup=False)
            yield Input(self.initial, placeholder=self.placeholder, id="text-input")
            yield Static("", id="text-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(self.confirm_label, id="confirm", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#text-input", Input).focus()

    @on(Input.Submitted, "#text-input")
    @on(Button.Pressed, "#confirm")
    def _submit(self) -> None:
        value = self.query_one("#text-input", Input).value.strip()
        if self.required and not value:
            self.query_one("#text-error", Static).update("This cannot be empty.")
            self.query_one("#text-input", Input).focus()
            return
        self.dismiss(value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ResumeDialog(ModalScreen[str]):
    """An unfinished session exists: resume it, start a new one, or quit."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "quit_app", "Quit", id="resume.quit", tooltip="Quit without opening a session"),
    ]

    def __init__(self, summary: RenderableType) -> None:
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Unfinished session found", classes="dialog-title")
            yield Static(self.summary, classes="dialog-prompt")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Quit", id="quit", compact=True)
                yield Button("Start new", id="new", compact=True)
                yield Button("Resume", id="resume", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#resume", Button).focus()

    @on(Button.Pressed)
    def _choose(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "quit")

    def action_quit_app(self) -> None:
        self.dismiss("quit")

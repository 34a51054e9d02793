"""Modal dialogs: confirm (actions, quit), a required text (skip reason, override note, note), resume."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

ResultType = TypeVar("ResultType")


class DialogScreen(ModalScreen[ResultType]):
    """The frame every deploytui dialog shares (the help too): a bordered box, title, body, buttons, hint;
    tighter below 100 columns.

    Its rules are DEFAULT_CSS, scoped to dialogs, so they are parsed when the first dialog opens rather
    than with the app's stylesheet before the first frame (the app's stylesheet was a third of the CSS
    parsed there; benchmarks/bench_startup.py). They outrank Textual's own widget defaults by specificity
    (ids and classes over type names)."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    DEFAULT_CSS = """
    DialogScreen .dialog {
        width: 90%;
        max-width: 96;
        height: auto;
        max-height: 90%;
        padding: 1 2;
        border: tall $primary;
        background: $surface;
    }

    DialogScreen#action-dialog .dialog {
        border: tall $error;
    }

    DialogScreen.-narrow .dialog {
        width: 100%;
        max-height: 100%;
        padding: 0 1;
    }

    DialogScreen.-narrow .dialog-title {
        margin-bottom: 0;
    }

    DialogScreen .dialog-title {
        text-style: bold;
        width: 1fr;
        margin-bottom: 1;
    }

    DialogScreen .dialog-body {
        height: auto;
        max-height: 30;
    }

    DialogScreen .dialog-prompt {
        margin-bottom: 1;
    }

    DialogScreen .dialog-error {
        color: $error;
        height: auto;
    }

    DialogScreen .dialog-hint {
        color: $text-muted;
        margin-top: 1;
    }

    DialogScreen .dialog-buttons {
        height: auto;
        align-horizontal: right;
        margin-top: 1;
    }

    DialogScreen .dialog-buttons Button {
        margin-left: 2;
    }

    DialogScreen #choice-hint {
        width: 1fr;
        margin-top: 0;
    }
    """


class ConfirmDialog(DialogScreen[bool]):
    """Yes/no with a body (e.g. the exact command an action will run). Escape answers no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Close without doing anything"),
        Binding("c", "copy", "Copy", id="dialog.copy", tooltip="Copy the command to the clipboard"),
    ]

    def __init__(
        self,
        title: str,
        body: RenderableType,
        *,
        confirm: str = "Run",
        danger: bool = True,
        copy: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual names it id
    ) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.body = body
        self.confirm_label = confirm
        self.danger = danger
        self.copy_text = copy
        """Offered to the clipboard (`c`, or the Copy button): the exact command, secrets masked."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)  # checklist text, not markup
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body, id="confirm-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                if self.copy_text is not None:
                    yield Button("Copy command", id="copy", compact=True)
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

    @on(Button.Pressed, "#copy")
    def action_copy(self) -> None:
        if self.copy_text is None:
            return
        self.app.copy_to_clipboard(self.copy_text)
        self.notify("Command copied to the clipboard.")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class TextDialog(DialogScreen[str | None]):
    """One line of text (a skip reason, an override note, a note). Required text cannot be empty."""

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


class ResumeDialog(DialogScreen[str]):
    """An unfinished session exists: resume it (as its operator, or as another: `o`), start new, or quit."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "quit_app", "Quit", id="resume.quit", tooltip="Quit without opening a session"),
        Binding("o", "change_operator", "Operator", id="resume.operator", tooltip="Change who resumes it"),
    ]

    def __init__(self, summary: RenderableType, operator: str = "") -> None:
        super().__init__()
        self.summary = summary
        self.operator = operator
        """Who resumes the session (the session's operator unless changed here)."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Unfinished session found", classes="dialog-title")
            yield Static(self.summary, classes="dialog-prompt")
            yield Static(self._operator_text(), id="resume-operator", classes="dialog-prompt", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Quit", id="quit", compact=True)
                yield Button("Start new", id="new", compact=True)
                yield Button("Resume", id="resume", variant="primary", compact=True)

    def _operator_text(self) -> str:
        return f"Resume as: {self.operator or '(nobody)'}   (o: change)"

    def on_mount(self) -> None:
        self.query_one("#resume", Button).focus()

    @on(Button.Pressed)
    def _choose(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "quit")

    def action_quit_app(self) -> None:
        self.dismiss("quit")

    def action_change_operator(self) -> None:
        def done(name: str | None) -> None:
            if name:
                self.operator = name
                self.query_one("#resume-operator", Static).update(self._operator_text())

        self.app.push_screen(
            TextDialog(
                "Who resumes this session?",
                "Every change from now on is recorded under this name.",
                initial=self.operator,
                confirm="Use this name",
                id="operator-dialog",
            ),
            done,
        )


CHOICE_DIGITS = 9
"""Entries of a ChoiceDialog that a digit key picks (1 to 9); further ones are picked with the arrows."""


class ChoiceDialog(DialogScreen[int | None]):
    """Pick one of several entries (e.g. which world-changing step of a node to run): a digit picks
    the entry it stands beside, or ↑↓ then Enter. Escape: none."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Close without choosing"),
        *(
            Binding(str(n), f"pick({n - 1})", f"Entry {n}", show=False, id=f"dialog.pick-{n}")
            for n in range(1, CHOICE_DIGITS + 1)
        ),
    ]

    def __init__(
        self,
        title: str,
        entries: list[str | Text],
        id: str | None = None,  # noqa: A002 - Textual names it id
    ) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.entries = entries

    def _option_text(self, n: int, entry: str | Text) -> Table:
        """The entry with its digit in front, as a key would show (none past the ninth); a long entry
        wraps under its own text, not under the digit."""
        hint = Text.assemble((f" {n + 1} " if n < CHOICE_DIGITS else "   ", "bold reverse"), " ")
        row = Table.grid()
        row.add_column(no_wrap=True)
        row.add_column(ratio=1)
        row.add_row(hint, entry if isinstance(entry, Text) else Text(entry))  # checklist text, not markup
        return row

    def _hint(self) -> str:
        last = min(len(self.entries), CHOICE_DIGITS)
        digits = "1" if last == 1 else f"1–{last}"
        return f"{digits} picks · ↑↓ Enter · Esc cancels"

    def compose(self) -> ComposeResult:
        from textual.widgets import OptionList
        from textual.widgets.option_list import Option

        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield OptionList(
                *(Option(self._option_text(n, text), id=str(n)) for n, text in enumerate(self.entries)),
                id="choice-list",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Static(self._hint(), classes="dialog-hint", id="choice-hint")
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#choice-list").focus()

    def on_option_list_option_selected(self, event: Any) -> None:
        self.dismiss(int(event.option.id))

    def action_pick(self, index: int) -> None:
        if 0 <= index < len(self.entries):
            self.dismiss(index)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

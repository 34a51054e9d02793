"""Sign-off: the checklist's form, what is still open or failed (acknowledged before finishing), export
and signing of the record. Rollback opens the rollback procedure in the tree instead."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    Static,
    TextArea,
)

from deploytui.core.checklist import SignoffField
from deploytui.core.errors import DeployError
from deploytui.core.status import BAD, Status
from deploytui.services import exports, records, signoff
from deploytui.tui.present import GLYPHS
from deploytui.tui.themes import status_colors
from deploytui.tui.widgets.footer import DeployFooter

if TYPE_CHECKING:
    from deploytui.signing import SigningKey
    from deploytui.tui.app import DeployApp

OPEN_LISTED = 15
"""Open items listed by name on the sign-off screen (the rest are counted)."""

OPEN_LISTED_SHORT = 5
"""Open items listed on a short terminal (under SHORT_ROWS rows), so that the form shows below them."""

SHORT_ROWS = 36
"""Terminal rows under which the sign-off lists fewer open items (80×24: the list hid the whole form)."""

NO_KEY = "__none__"


class Choice(RadioButton):
    """A radio button whose mark differs by character, not only by colour: ● chosen, ○ not (a plain
    terminal, a screen reader or a colour-blind reader tells Success from Rollback)."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # noqa: N802 - the name ToggleButton reads
        return "●" if self.value else "○"


class Acknowledge(Checkbox):
    """A checkbox that shows X only when ticked (Textual's compact one shows a dim X either way), and
    whose label wraps on a narrow terminal instead of being cut (Textual's is one line)."""

    DEFAULT_CSS = """
    Acknowledge {
        width: 1fr;
        height: auto;
        text-wrap: wrap;
    }
    """

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # noqa: N802 - the name ToggleButton reads
        return "X" if self.value else " "

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.render().wrap(width)))


class SignoffScreen(Screen[str | None]):
    """Dismisses with "rollback" (open the rollback procedure), "exported", or None (back)."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    # Parsed when the form first opens, not with the app's stylesheet before the first frame (as the
    # dialogs' rules: screens/dialogs.py DialogScreen).
    DEFAULT_CSS = """
    SignoffScreen {
        layout: vertical;
    }

    SignoffScreen #signoff-body {
        height: 1fr;
        padding: 0 2;
        scrollbar-size-vertical: 1;
    }

    SignoffScreen #signoff-body .field-label {
        margin-top: 1;
        text-style: bold;
    }

    SignoffScreen #signoff-body Input, SignoffScreen #signoff-body RadioSet,
    SignoffScreen #signoff-body TextArea, SignoffScreen #signoff-body Select {
        width: 100%;
        max-width: 80;
    }

    SignoffScreen #signoff-body Input, SignoffScreen #signoff-body TextArea,
    SignoffScreen #signoff-body Select > SelectCurrent {
        background: $panel;
    }

    SignoffScreen #signoff-body Input:focus, SignoffScreen #signoff-body TextArea:focus {
        background: $primary 25%;
    }

    SignoffScreen #signoff-body Checkbox {
        margin-top: 1;
    }

    /* Label and widget of one field; the focused field gets a bar down its left edge, visible without
       colour (a plain terminal capture, a monochrome terminal). */
    SignoffScreen #signoff-body .field {
        height: auto;
        border-left: blank;
    }

    SignoffScreen #signoff-body .field:focus-within {
        border-left: outer $accent;
    }

    SignoffScreen #signoff-body .field:focus-within > .field-label {
        color: $accent;
    }

    SignoffScreen #signoff-body TextArea {
        height: 5;
    }

    SignoffScreen #signoff-open {
        height: auto;
        margin-top: 1;
        padding: 0 1;
        border: round $warning;
    }

    SignoffScreen.-narrow #signoff-body .field-label {
        margin-top: 0;
    }

    SignoffScreen #signoff-buttons {
        height: 1;
        padding: 0 2;
        background: $panel;
    }

    SignoffScreen #signoff-error {
        padding: 0 2;
        color: $error;
        height: auto;
    }

    SignoffScreen #signoff-buttons Button {
        margin-right: 2;
    }

    SignoffScreen #signoff-title {
        height: 1;
        background: $panel;
    }

    /* Toasts at the top right, over the list of open items: at the bottom (Textual's place) a toast left
       from the checklist ("Resumed …") covered the form's last fields and its buttons at 80×24. */
    SignoffScreen ToastRack {
        dock: top;
        align: right top;
        margin-bottom: 0;
    }
    """
    AUTO_FOCUS = "#ack, #signoff-body Input"
    """The form opens on its first field (the acknowledgement when something is open)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        # ? and q type into the fields here: help and quit have keys no field takes.
        Binding("f1", "help", "Help", id="signoff.help", tooltip="Keys of this form"),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            id="signoff.quit",
            tooltip="Save what is typed and quit (asks first while checks run)",
            priority=True,  # else the app's own ctrl+q (hidden) takes its place in the footer
        ),
        Binding(
            "escape", "back", "Back", id="signoff.back", tooltip="Back to the checklist (the form is kept)"
        ),
        Binding(
            "ctrl+s", "save", "Save", id="signoff.save", tooltip="Save the sign-off fields without finishing"
        ),
        Binding(
            "ctrl+e",
            "export",
            "Finish & export",
            id="signoff.export",
            tooltip="Finish the session and write the record (signed when a key is chosen)",
        ),
    ]
    FOOTER_RANK: ClassVar[tuple[str, ...]] = ("help", "quit", "back", "export", "save")
    """The footer's keys, most important first (widgets.footer.DeployFooter drops the last to fit)."""

    def __init__(self) -> None:
        super().__init__(id="signoff")
        self.keys: list[SigningKey] = []
        self._opened_result = ""
        """The Result the form opened with (choosing Rollback anew opens the rollback procedure)."""
        self._opened_values: dict[str, str] = {}
        """The fields as the form opened (Back saves them only when something was changed)."""

    @property
    def deploy_app(self) -> DeployApp:
        return self.app  # type: ignore[return-value]

    # ------------------------------------------------------------------------------ form

    def _open_items(self) -> list[tuple[str, str, Status]]:
        app = self.deploy_app
        return [(r.id, r.title, r.status) for r in signoff.open_items(app.live.session, app.checklist)]

    def _prefill(self, f: SignoffField) -> str:
        app = self.deploy_app
        return signoff.prefill(f, app.live.session, app.operator, app.clock())

    def compose(self) -> ComposeResult:
        app = self.deploy_app
        session = app.live.session
        title = Text()
        title.append(" Sign-off ", Style(bold=True, reverse=True))
        title.append(f"  {app.checklist.title}  ", Style(bold=True))
        title.append(session.id, Style(dim=True))
        yield Static(title, id="signoff-title")
        with VerticalScroll(id="signoff-body"):
            open_items = self._open_items()
            if open_items:
                yield Static(self._open_summary(open_items), id="signoff-open")
                with Vertical(classes="field"):
                    # The counts (open, failed) are in the box just above: said once.
                    yield Acknowledge(
                        "I reviewed the open items above and sign off with them as they are",
                        id="ack",
                        compact=True,
                    )
            else:
                yield Static(Text("✔ Every item is complete.", Style(bold=True)), id="signoff-open")
            # Each field sits in a .field box: the focused one gets a bar down its left edge (see the
            # stylesheet), so which field has focus shows even without colours.
            for f in app.checklist.signoff:
                with Vertical(classes="field"):
                    label = Text(f.label)  # checklist text, never markup
                    if f.kind == "choice":
                        label.append("  ↑↓ then space chooses", Style(dim=True))
                    yield Label(label, classes="field-label")
                    value = self._prefill(f)
                    if f.kind == "choice":
                        with RadioSet(id=f"field-{f.key}", compact=True):
                            for choice in f.choices:
                                yield Choice(Text(choice), value=choice == value)
                    elif f.kind == "multiline":
                        yield TextArea(
                            value, id=f"field-{f.key}", soft_wrap=True, show_line_numbers=False, compact=True
                        )
                    else:
                        # No placeholder: the label is just above (repeated, it read "Reviewed by" twice).
                        yield Input(value, id=f"field-{f.key}", compact=True)
            with Vertical(classes="field"):
                yield Label("Record file", classes="field-label")
                yield Input(f"{session.id}.record.md", id="record-path", compact=True)
            with Vertical(classes="field"):
                yield Label("Sign as deployer with (Enter opens the list)", classes="field-label")
                yield Select(
                    [("Don't sign", NO_KEY)], value=NO_KEY, allow_blank=False, id="key-select", compact=True
                )
                yield Input(
                    placeholder="…or a key file (private key, or a .pub held by ssh-agent)", id="key-path"
                )
        yield Static("", id="signoff-error")
        with Horizontal(id="signoff-buttons"):
            yield Button("Back", id="back", compact=True)
            yield Button("Save", id="save", compact=True)
            yield Button("Rollback procedure", id="rollback", variant="warning", compact=True)
            yield Button("Finish & export", id="export", variant="primary", compact=True)
        yield DeployFooter()

    def footer_actions(self) -> list[str]:
        """What the footer shows, most important first (widgets.footer.DeployFooter)."""
        return list(self.FOOTER_RANK)

    def _listed(self) -> int:
        """How many open items are named: fewer on a short terminal, where the list hid the form."""
        return OPEN_LISTED if self.app.size.height >= SHORT_ROWS else OPEN_LISTED_SHORT

    def on_resize(self, event: events.Resize) -> None:
        open_items = self._open_items()
        if open_items:
            self.query_one("#signoff-open", Static).update(self._open_summary(open_items))

    def _open_summary(self, rows: list[tuple[str, str, Status]]) -> Text:
        colors = status_colors(self.app.current_theme)
        text = Text()
        bad = sum(1 for _i, _t, s in rows if s in BAD)
        total = len(self.deploy_app.live.session.counted_ids(self.deploy_app.checklist))
        text.append(f"Still open: {len(rows)} of {total}", Style(bold=True))
        if bad:
            text.append(
                f"  ({bad} failed, errored or interrupted)", Style(color=colors[Status.FAILED], bold=True)
            )
        listed = self._listed()
        if len(rows) == listed + 1:
            listed += 1  # the item itself takes the line "… and 1 more" would
        for _node_id, title, status in rows[:listed]:
            text.append("\n")
            text.append(f"{GLYPHS[status]} ", Style(color=colors[status], bold=True))
            text.append(self.deploy_app.redactor.redact(title))
            text.append(f"  {status.value}", Style(dim=True))
        if len(rows) > listed:
            text.append(f"\n… and {len(rows) - listed} more", Style(dim=True))
        return text

    def on_mount(self) -> None:
        # Toasts left from the checklist ("Resumed …") are about it, not the form, and covered the form
        # at 80×24 (their warnings are in the Activity log too); the form's own show at the top right.
        self.app.clear_notifications()
        self._opened_values = self.values()
        self._opened_result = self._result(self._opened_values)
        self._update_rollback_button()
        if self.deploy_app.read_only or self.deploy_app.live.session.finished:
            for button in self.query(Button):
                if button.id not in ("back", "rollback"):
                    button.disabled = True
        self._find_keys()

    @work(thread=True, exclusive=True, group="signoff-keys", exit_on_error=False)
    def _find_keys(self) -> None:
        """ssh-add -L and ~/.ssh/*.pub, off the event loop (the agent may be slow to answer)."""
        from deploytui import signing

        keys = signing.discover_keys(ssh_dir=self.deploy_app.ssh_dir)
        self.app.call_from_thread(self._keys_found, keys)

    def _keys_found(self, keys: list[SigningKey]) -> None:
        self.keys = keys
        options: list[tuple[str, str]] = [("Don't sign", NO_KEY)]
        options += [(key.label, str(i)) for i, key in enumerate(keys)]
        self.query_one("#key-select", Select).set_options(options)

    # ------------------------------------------------------------------------------ values

    def values(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        for f in self.deploy_app.checklist.signoff:
            widget = self.query_one(f"#field-{f.key}")
            if isinstance(widget, RadioSet):
                pressed = widget.pressed_button
                fields[f.key] = str(pressed.label) if pressed is not None else ""
            elif isinstance(widget, TextArea):
                fields[f.key] = widget.text.strip()
            elif isinstance(widget, Input):
                fields[f.key] = widget.value.strip()
        return fields

    def _result(self, fields: dict[str, str]) -> str:
        return signoff.result_of(self.deploy_app.checklist, fields)

    def _update_rollback_button(self) -> None:
        result = self._result(self.values())
        self.query_one("#rollback", Button).display = signoff.is_rollback(result) and bool(
            self.deploy_app.checklist.rollback_id
        )

    @on(RadioSet.Changed)
    def _result_changed(self, event: RadioSet.Changed) -> None:
        self._update_rollback_button()
        chosen = str(event.pressed.label)
        # Choosing Rollback (a change, not the value the form opened with) saves the form and goes
        # straight to the rollback procedure; `e` comes back here to finish.
        anew = chosen != self._opened_result
        if signoff.is_rollback(chosen) and anew and self.query_one("#rollback").display:
            self._rollback()

    def _error(self, message: str) -> None:
        """Shown just above the buttons (a toast would cover them)."""
        self.query_one("#signoff-error", Static).update(message)
        if message:
            self.app.bell()

    def _save(self) -> dict[str, str] | None:
        app = self.deploy_app
        fields = self.values()
        try:
            signoff.save(app.live, fields, app.operator)
        except DeployError as exc:
            self._error(str(exc))
            return None
        return fields

    # ------------------------------------------------------------------------------ keys

    def action_help(self) -> None:
        from deploytui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.deploy_app.binding_rows(self)))

    def action_quit(self) -> None:
        """Quit as `q` does on the checklist (it asks while checks run), with what was typed saved."""
        app = self.deploy_app
        if not app.read_only and not app.live.session.finished:
            if self.values() != self._opened_values and self._save() is None:
                return  # the error is shown on the form
            self._opened_values = self.values()
        from deploytui.tui.screens.main import MainScreen

        main = next((s for s in app.screen_stack if isinstance(s, MainScreen)), None)
        if main is None:
            app.exit(0)
        else:
            main.action_quit()

    # ------------------------------------------------------------------------------ buttons

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the checklist; what was typed is saved (the form is built afresh on `e`)."""
        app = self.deploy_app
        if not app.read_only and not app.live.session.finished:
            if self.values() != self._opened_values and self._save() is None:
                return  # the error is shown on the form
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        if self._save() is not None:
            self._error("")
            self.notify("Sign-off saved.")

    @on(Button.Pressed, "#rollback")
    def _rollback(self) -> None:
        if self.deploy_app.live.session.finished or self._save() is not None:
            self.dismiss("rollback")

    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        app = self.deploy_app
        if app.read_only:
            return
        fields = self.values()
        ack = self.query("#ack")
        if ack and not self.query_one("#ack", Checkbox).value:
            self._error("Acknowledge the open items first (the checkbox above the form).")
            return
        try:
            signoff.finish(
                app.live, app.checklist, fields, app.operator, acknowledged=True,
                reviewers=app.config.signoff_reviewers,
            )
        except DeployError as exc:
            self._error(str(exc))
            return
        self._export()

    def _signing_key(self) -> str | SigningKey | None:
        typed = self.query_one("#key-path", Input).value.strip()
        if typed:
            return str(Path(typed).expanduser())
        chosen = self.query_one("#key-select", Select).value
        if chosen in (NO_KEY, Select.BLANK, None):
            return None
        return self.keys[int(str(chosen))]

    def _export(self) -> None:
        app = self.deploy_app
        target = Path(
            self.query_one("#record-path", Input).value.strip() or f"{app.live.session.id}.record.md"
        )
        self.query_one("#export", Button).disabled = True
        self._error("")
        self.notify("Writing the record…", timeout=3)
        self._render_record(target, self._signing_key())

    @work(thread=True, exclusive=True, group="signoff-export", exit_on_error=False)
    def _render_record(self, target: Path, key: str | SigningKey | None) -> None:
        """Rendering hashes every log (seconds on a large session): off the event loop. Signing needs
        the terminal (a passphrase, a FIDO touch), so it happens back on the app's thread."""
        app = self.deploy_app
        try:
            body = records.render_session(app.live, checklist=app.checklist, redactor=app.redactor)[0]
        except DeployError as exc:
            self.app.call_from_thread(self._export_failed, str(exc))
            return
        self.app.call_from_thread(self._write_record, target, body, key)

    def _export_failed(self, message: str) -> None:
        self.query_one("#export", Button).disabled = False
        self._error(message)

    def _write_record(self, target: Path, body: str, key: str | SigningKey | None) -> None:
        try:
            text = body if key is None else self._signed(body, key)
            records.atomic_write_text(target, text)
        except DeployError as exc:
            self._export_failed(str(exc))
            return
        try:
            exports.note_export(self.deploy_app.live, target, text, self.deploy_app.operator)
        except DeployError as exc:
            self.notify(f"The session could not note where the record is: {exc}", severity="warning")
        signed = " and signed" if key is not None else ""
        self.notify(f"Record written{signed}: {target.resolve()}", title="Exported", timeout=15)
        self.dismiss("exported")

    def _signed(self, body: str, key: str | SigningKey) -> str:
        """Sign with the terminal handed to ssh-keygen (passphrase, FIDO touch); headless: no prompts."""
        try:
            with self.app.suspend():
                return records.sign_body(body, key, interactive=True)
        except SuspendNotSupported:
            return records.sign_body(body, key, interactive=False)

"""The session picker of `deploytui --read-only` without a session (and of each `deploytui serve` tab):
the rows of `deploytui sessions`, newest first; Enter follows the chosen one read-only."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label

from deploytui.services.sessions import ROW_HEADERS, session_row
from deploytui.storage.fs import SessionInfo


class SessionPicker(Screen[str | None]):
    """Choose a session to follow. Dismisses with its id, or None (q, escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,escape", "quit_picker", "Quit", id="picker.quit", tooltip="Leave without opening one"),
    ]

    def __init__(self, infos: list[SessionInfo], where: str) -> None:
        super().__init__()
        self.infos = infos
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            title = "Follow a session (read-only): ↑ ↓ to choose, Enter to open"
            yield Label(title, id="picker-title", markup=False)
            if not self.infos:
                yield Label(f"No sessions in {self.where} yet.", id="picker-empty", markup=False)
            table: DataTable[Text] = DataTable(id="picker-table", cursor_type="row", zebra_stripes=True)
            yield table
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#picker-table", DataTable)
        table.add_columns(*ROW_HEADERS)
        start = None
        for index, info in enumerate(self.infos):
            table.add_row(*(Text(cell) for cell in session_row(info)), key=info.id)
            if start is None and info.error is None and info.finished is None:
                start = index
        # The cursor starts on the newest unfinished session: the one a reviewer most likely came for.
        if start:
            table.move_cursor(row=start)
        table.focus()

    @on(DataTable.RowSelected, "#picker-table")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        session_id = event.row_key.value
        info = next((i for i in self.infos if i.id == session_id), None)
        if info is None or info.error is not None:
            self.notify(f"{session_id} cannot be read: {info.error if info else 'gone'}", severity="error")
            return
        self.dismiss(session_id)

    def action_quit_picker(self) -> None:
        self.dismiss(None)

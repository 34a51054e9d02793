"""Messages workers post to the screen that owns the session (workers never touch widgets)."""

from __future__ import annotations

from textual.message import Message

from deploytui.core.events import EngineEvent


class EngineEventPosted(Message):
    """An engine event (RunBegan / RunOutput / RunEnded) to apply to the session and the panes."""

    def __init__(self, event: EngineEvent) -> None:
        super().__init__()
        self.event = event

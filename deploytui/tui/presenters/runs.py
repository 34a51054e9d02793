"""The runs in progress as the screen tracks them: which item each run belongs to, which were
submitted and not yet ended, what each check does, and each item's latest output (bounded). Pure
bookkeeping: the screen applies it to widgets, `services.runs` records the runs in the session."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from deploytui.core.events import RunBegan, RunEnded, RunOutput

RUN_LOG_MAX_LINES = 5_000
"""Lines of a run's output kept in memory for its pane (the whole output is in its log file)."""


class RunBuffer:
    """The bounded recent output of one run, kept while the app runs so re-selecting an item is instant."""

    def __init__(self, run_id: str, title: str) -> None:
        self.run_id = run_id
        self.title = title
        self.lines: deque[str] = deque(maxlen=RUN_LOG_MAX_LINES)


def run_title(event: RunBegan) -> str:
    """One line naming the run: its label and what it does (an action's command may hold newlines)."""
    title = f"{event.label}: {event.description}" if event.description else event.label
    lines = [line for line in title.splitlines() if line.strip()]
    return (lines[0] + (" …" if len(lines) > 1 else "")) if lines else event.check_key


@dataclass
class RunBoard:
    buffers: dict[str, RunBuffer] = field(default_factory=dict)
    """Latest run output per item (bounded)."""
    run_items: dict[str, str] = field(default_factory=dict)
    """run_id -> item of every run the engine has started and not yet ended."""
    pending_runs: dict[str, str] = field(default_factory=dict)
    """run_id -> item of runs submitted to the engine (queued or running)."""
    descriptions: dict[str, str] = field(default_factory=dict)
    """check_key -> what the check does (from RunBegan), shown in the detail pane."""
    version: int = 0
    """Moves whenever `pending_runs` changes (the screen redraws running marks when it moved)."""

    def submitted(self, run_id: str, item: str) -> None:
        self.pending_runs[run_id] = item
        self.version += 1

    def running_items(self) -> set[str]:
        """Items with a run submitted and not ended: queued or running, the tree shows them running."""
        return set(self.pending_runs.values())

    def never_began(self, run_ids: list[str]) -> None:
        """Runs cancelled while queued leave nothing running behind."""
        for run_id in run_ids:
            if run_id not in self.run_items and self.pending_runs.pop(run_id, None) is not None:
                self.version += 1

    def began(self, event: RunBegan) -> tuple[str, bool]:
        """(the run's title, whether it joins a run of the same item still going: its output is then
        appended under a header line instead of replacing the item's buffer)."""
        self.run_items[event.run_id] = event.item
        if event.description:
            self.descriptions[event.check_key] = event.description
        title = run_title(event)
        running_here = any(i == event.item and r != event.run_id for r, i in self.run_items.items())
        if running_here and event.item in self.buffers:
            self.buffers[event.item].lines.append(f"── {title} ──")
            return title, True
        self.buffers[event.item] = RunBuffer(event.run_id, title)
        return title, False

    def output(self, event: RunOutput) -> str | None:
        """The item the output belongs to (None: a run this board does not know)."""
        item = self.run_items.get(event.run_id)
        if item is not None and (buffer := self.buffers.get(item)) is not None:
            buffer.lines.extend(event.lines)
        return item

    def ended(self, event: RunEnded, closing_line: str) -> None:
        self.run_items.pop(event.run_id, None)
        if self.pending_runs.pop(event.run_id, None) is not None:
            self.version += 1
        buffer = self.buffers.get(event.item)
        if buffer is not None:
            buffer.lines.append(closing_line)

    def pending_under(self, ids: set[str]) -> list[str]:
        return [rid for rid, item in self.pending_runs.items() if item in ids]

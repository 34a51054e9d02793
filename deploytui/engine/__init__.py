"""The engine: runs checks and actions concurrently under their limits, streams their output, times
them out and cancels them. It knows checks (`deploytui.checks`) and the pure core; never sessions,
storage or a face."""

from __future__ import annotations

from deploytui.engine.runner import BATCH_LINES, DISPLAY_LINE_CHARS, Engine, new_run_id

__all__ = ["BATCH_LINES", "DISPLAY_LINE_CHARS", "Engine", "new_run_id"]

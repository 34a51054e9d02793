"""The engine: runs checks and actions concurrently under their limits, streams their output, times
them out and cancels them. It knows checks (`deploytui.checks`) and the pure core; never sessions,
storage or a face.

The runner's names load on first use (PEP 562), so `deploytui.engine.spawn` and `deploytui.engine.loop`
can be imported without the runner and its imports (a headless command starts its worker processes
before it loads the rest: services/prestart.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deploytui.engine.runner import BATCH_LINES, DISPLAY_LINE_CHARS, Engine, new_run_id

__all__ = ["BATCH_LINES", "DISPLAY_LINE_CHARS", "Engine", "new_run_id"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from deploytui.engine import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

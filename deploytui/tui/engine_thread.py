"""The app's engine runs on an event loop of its own, in a thread of its own.

On the app's loop a check's awaits queued behind the app's own work: the footer, the tree's layout, the
detail pane, the session save of every run event. During `R` on the demo stack, on a machine at load
average ~3, a Redis PING timed there read 1.0-1.2 s (threshold 1 s) while the same PING headless read
0.1 s: the verdict measured the app. On its own loop a check resumes as soon as its answer is in and
the GIL is free (it changes hands every 5 ms), whatever the app is drawing.

The app reaches the engine only through `EngineThread`:
- runs (`run_many`, `run_check`, `run_action`) are awaited from the app's loop and run on the engine's;
  cancelling the awaiting worker cancels the run there, as before;
- the engine's events reach the screen by `post_message`, which Textual makes thread-safe;
- a world-changing step is recorded on the app's thread before it starts (`record_before`, through
  `App.call_from_thread`: the session is the app's, and a refusal still stops the step);
- cancellation is scheduled on the engine's loop; `running` reads a copy of its task table.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from deploytui.core.events import ActionLaunch, EngineEvent
    from deploytui.core.spec import CheckSpec
    from deploytui.core.status import Outcome
    from deploytui.engine import Engine

T = TypeVar("T")

STOP_SECONDS = 5.0
"""How long closing waits for the engine's runs to end once cancelled."""


class EngineThread:
    """One engine, its own loop and the thread that runs it (a daemon: it never holds the process up)."""

    def __init__(self, engine: Engine, name: str = "deploytui-engine") -> None:
        self.engine = engine
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def record_before(
        self, call_from_thread: Callable[..., Any], record: Callable[[ActionLaunch], None]
    ) -> None:
        """Have the engine record each world-changing step with `record`, run on the app's thread by
        `call_from_thread`, before the step starts (its exception, a refusal, stops the step)."""

        def before(launch: ActionLaunch) -> None:
            call_from_thread(record, launch)

        self.engine.before_action = before

    async def _on_engine_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await, from the app's loop, `coroutine` run on the engine's loop."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()  # the run's task is cancelled on its own loop, and ends as it would there
            raise

    async def run_many(
        self,
        specs: Sequence[CheckSpec],
        on_event: Callable[[EngineEvent], None],
        *,
        run_ids: Sequence[str] | None = None,
        group: str | None = None,
        known: Any = None,
    ) -> list[Outcome]:
        return await self._on_engine_loop(
            self.engine.run_many(specs, on_event, run_ids=run_ids, group=group, known=known)
        )

    async def run_check(
        self,
        spec: CheckSpec,
        run_id: str | None,
        on_event: Callable[[EngineEvent], None],
        group: str | None = None,
    ) -> Outcome:
        return await self._on_engine_loop(self.engine.run_check(spec, run_id, on_event, group=group))

    async def run_action(
        self,
        node_id: str,
        action: Any,
        run_id: str | None,
        on_event: Callable[[EngineEvent], None],
        group: str | None = None,
    ) -> Outcome:
        run = self.engine.run_action(node_id, action, run_id, on_event, group=group)
        return await self._on_engine_loop(run)

    @property
    def running(self) -> list[str]:
        return self.engine.running

    def cancel(self, run_id: str) -> bool:
        """Cancel one run (queued or running); True when it was still going."""
        going = run_id in self.engine.running
        if going:
            self._loop.call_soon_threadsafe(self.engine.cancel, run_id)
        return going

    def cancel_all(self) -> int:
        count = len(self.engine.running)
        if count:
            self._loop.call_soon_threadsafe(self.engine.cancel_all)
        return count

    def close(self) -> None:
        """Cancel what runs, give it STOP_SECONDS to end, then stop the loop and its thread, and close
        the engine (its worker processes end)."""
        if not self._thread.is_alive():
            self.engine.close()
            return
        self.cancel_all()

        async def drained() -> None:
            deadline = self._loop.time() + STOP_SECONDS
            while self.engine.running and self._loop.time() < deadline:
                await asyncio.sleep(0.02)

        try:
            asyncio.run_coroutine_threadsafe(drained(), self._loop).result(STOP_SECONDS + 1)
        except Exception:  # noqa: BLE001, S110 - closing: whatever is left is stopped below
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_SECONDS)
        self.engine.close()  # its worker processes: none outlives the app

"""Sharing the GIL with the app's thread: work done in a thread beside a UI naps now and then."""

from __future__ import annotations

import time
from collections.abc import Callable


def sharing(every: float = 0.002, nap: float = 0.0005) -> Callable[[], None]:
    """A `pause` for work done in a thread beside the app's: after each `every` seconds of it, sleep `nap`,
    which hands the GIL over at once. Without it the app's thread waited for the interpreter's forced
    switch (5 ms) each time it wanted the GIL back, several times per key:
    - cursor moves during the first checkpoint of 5,000 items (~0.8 s of serialising) took 17-37 ms
      instead of 3 (bench_scale.py);
    - keys pressed while an action printed 2,000,000 lines: p99 89 ms [24-110], 21 ms [16-27] with the
      engine's thread napping 0.1 ms between chunks of output (bench_streaming.py --repeat 5)."""
    last = time.perf_counter()

    def pause() -> None:
        nonlocal last
        now = time.perf_counter()
        if now - last >= every:
            time.sleep(nap)
            last = time.perf_counter()

    return pause


def no_pause() -> None:
    """The `pause` of work no UI thread shares a core with (headless runs)."""

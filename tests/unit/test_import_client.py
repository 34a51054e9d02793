"""`import_client` loads a client off the event loop once, and costs nothing after that."""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

from deploytui.checks.base import import_client


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        self.submitted += 1
        return super().submit(*args, **kwargs)


def _hops(module: str) -> int:
    executor = CountingExecutor()

    async def main() -> None:
        asyncio.get_running_loop().set_default_executor(executor)
        await import_client(module)

    asyncio.run(main())
    return executor.submitted


def test_a_loaded_module_takes_no_thread_hop() -> None:
    # A hop per check for httpx, loaded long ago, was ~0.6 ms of every parallel HTTP check.
    assert "json" in sys.modules
    assert _hops("json") == 0


def test_a_module_not_loaded_yet_is_imported_in_a_worker_thread() -> None:
    sys.modules.pop("this", None)  # the Zen of Python: small, prints on import
    assert _hops("this") == 1
    assert "this" in sys.modules

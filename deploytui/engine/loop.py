"""The event loop the headless commands' engine runs go on: uvloop's where installed, else asyncio's.

Fifty checks at once spend most of their CPU in the loop itself (a task, a timer and a dozen callbacks a
check, a socket connect and its transport) before a request is on the wire; uvloop does that work in C.
On this 2-core machine it took 50 HTTP checks against a 300 ms server from 345 ms (median of 7,
329-354) to 333 ms (327-338); `benchmarks/bench_parallel_http.py` measures both loops in one run.

`DEPLOYTUI_LOOP=asyncio` keeps asyncio's loop (to rule the loop out when something misbehaves).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from deploytui.core.errors import DeployError

T = TypeVar("T")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

LOOP_ENV = "DEPLOYTUI_LOOP"
"""`asyncio` keeps asyncio's own loop; `uvloop` insists on uvloop's; unset takes uvloop's when installed."""


def loop_factory() -> LoopFactory:
    """What makes the engine's loops: uvloop.new_event_loop, or asyncio.new_event_loop.

    A DEPLOYTUI_LOOP that names neither loop, or `uvloop` where it is not installed, is a DeployError
    (the commands call this before they open a session, so a typo costs nothing)."""
    wanted = os.environ.get(LOOP_ENV, "").strip().lower()
    if wanted not in ("", "asyncio", "uvloop"):
        raise DeployError(
            f"{LOOP_ENV}={os.environ[LOOP_ENV]!r}: say 'asyncio' or 'uvloop', or leave it unset"
        )
    if wanted == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if wanted == "uvloop":
            raise DeployError(f"{LOOP_ENV}=uvloop: uvloop is not installed (pip install uvloop)") from None
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """`uvloop` or `asyncio`: which loop a run went on (the benchmarks print it)."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def new_event_loop() -> asyncio.AbstractEventLoop:
    return loop_factory()()


def run(coroutine: Coroutine[Any, Any, T], factory: LoopFactory | None = None) -> T:
    """asyncio.run on the engine's loop (the headless commands' runs); `factory` from loop_factory()."""
    with asyncio.Runner(loop_factory=factory or loop_factory()) as runner:
        return runner.run(coroutine)

"""Offload adapters: CPU-heavy pure functions on a worker thread, or on the loop.

``ThreadOffload`` is the daemon's: the loop keeps serving every other task while the thread
computes (the GIL is released often enough for that; numpy releases it too).
``InlineOffload`` is for virtual time (``finagent simulate``, tests): it calls the function
at once, with no checkpoint, so a simulation schedules its tasks exactly as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, final

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["InlineOffload", "ThreadOffload"]

T = TypeVar("T")


@final
class InlineOffload:
    """Runs the function on the Trio thread (virtual time: a thread would let autojump jump)."""

    async def __call__(self, fn: Callable[[], T], /) -> T:
        """``fn()``, called at once."""
        return fn()


@final
class ThreadOffload:
    """Runs the function on a Trio worker thread, ``threads`` at a time (default one)."""

    def __init__(self, threads: int = 1) -> None:
        # One at a time by default: on a small machine two scans in parallel only contend.
        self._limiter = trio.CapacityLimiter(threads)

    async def __call__(self, fn: Callable[[], T], /) -> T:
        """``fn()``'s value, computed on a worker thread; waits for it even if cancelled."""
        return await trio.to_thread.run_sync(fn, limiter=self._limiter)

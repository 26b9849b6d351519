"""The Offload port: where a CPU-heavy pure function runs, off the event loop or on it.

A scan over tens of thousands of symbols is pure CPU. Run on the Trio thread it stalls every
task (the watchdog's "event loop lagged"), so the daemon runs it on a worker thread. Under a
virtual clock a task waiting on a thread looks blocked and an autojump clock may jump (trio
#456), so simulations and tests run it on the loop, as they do SQLite (``inline``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Offload"]

T = TypeVar("T")


class Offload(Protocol):
    """Runs ``fn()`` (pure CPU, no I/O, touching no shared mutable state) and returns its value."""

    async def __call__(self, fn: Callable[[], T], /) -> T:
        """``fn()``'s value; its exception propagates. Not cancellable once started."""
        ...

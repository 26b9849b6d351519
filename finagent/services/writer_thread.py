"""The job writer's dedicated SQLite thread: calls in over a ``SimpleQueue``, results back
through ``run_sync_soon``.

About half the cost of ``trio.to_thread.run_sync`` per call (no limiter, no context copy, no
thread-cache lookup). A call cannot be cancelled once handed over: it finishes, so every reply
the writer sends tells the truth.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any, final

import outcome
import trio
import trio.lowlevel

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["StoreThread"]

_Call = tuple["Callable[..., Any]", tuple[Any, ...], "Callable[[outcome.Outcome[Any]], None]"]


@final
class StoreThread:
    """One dedicated worker thread for the store while the writer serves.

    About half the cost of ``trio.to_thread.run_sync`` per call (no limiter, no context copy,
    no thread-cache lookup): the loop hands a call over a ``SimpleQueue``, the thread reports
    back with ``run_sync_soon``. A call cannot be cancelled once handed over (the batch
    finishes and every reply tells the truth), like the shielded thread call it replaces.
    """

    def __init__(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._calls: queue.SimpleQueue[_Call | None]
        self._calls = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="job-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        token = self._token
        while (call := self._calls.get()) is not None:
            fn, args, on_done = call
            token.run_sync_soon(on_done, outcome.capture(fn, *args))

    def submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        on_done: Callable[[outcome.Outcome[Any]], None],
    ) -> None:
        """Queue ``fn(*args)``; ``on_done(outcome)`` runs on the loop when it finished."""
        self._calls.put((fn, args, on_done))

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the thread; returns (or raises) its outcome. Not cancellable."""
        task = trio.lowlevel.current_task()
        self.submit(fn, args, lambda result: trio.lowlevel.reschedule(task, result))
        return await trio.lowlevel.wait_task_rescheduled(_uncancellable)

    def stop(self) -> None:
        """Let the (idle) thread end; its pending call, if any, has already been answered."""
        self._calls.put(None)
        self._thread.join()


def _uncancellable(_: Any) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.FAILED

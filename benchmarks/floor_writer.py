"""The lean group-commit writer under ``queue_floor.py``'s skeletons, and their database.

Callers park on a plain list; one writer task hands each batch to a ``commit`` function (on a
thread, on the loop, or not at all) and wakes every caller with its result. No request
objects, no mailbox, no checks: the least a Trio group commit can do.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

import outcome
import trio
import trio.lowlevel

from finagent.adapters.sqlite.schema import PAGE_SIZE

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

PRAGMAS = (  # finagent's settings: pages, WAL, 64 MiB cache, no checkpoint inside COMMIT
    f"page_size = {PAGE_SIZE}",
    "journal_mode = WAL",
    "synchronous = NORMAL",
    "cache_size = -65536",
    "wal_autocheckpoint = 0",
)


def open_db(db: Path, columns: str) -> sqlite3.Connection:
    """A new database with one ``jobs`` table of ``columns`` and finagent's due index."""
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(f"CREATE TABLE jobs ({columns})")
    conn.execute("CREATE INDEX jobs_due ON jobs (type, run_at, id) WHERE status = 'pending'")
    return conn


class LeanWriter:
    """One writer task over a list of parked callers.

    Args:
        commit: called with a batch's items, returns one result per item.
        mode: ``thread`` commits on a thread (as finagent must), ``inline`` on the loop,
            ``none`` not at all (every result is None).
        after: runs on the loop after each batch was answered.
    """

    def __init__(
        self,
        commit: Callable[[list[Any]], list[Any]],
        mode: str = "thread",
        after: Callable[[], None] | None = None,
    ) -> None:
        self._commit = commit
        self._mode = mode
        self._after = after
        self._pending: list[tuple[Any, Any]] = []
        self._writer: Any = None
        self._writer_parked = False
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.batches = 0

    async def ask(self, item: Any) -> Any:
        """Park until the batch holding ``item`` was committed; returns its result."""
        self._pending.append((trio.lowlevel.current_task(), item))
        if self._writer_parked:
            self._writer_parked = False
            trio.lowlevel.reschedule(self._writer)
        return await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)

    def run(self, load: Callable[[], Awaitable[Any]]) -> Any:
        """``trio.run`` the writer (and its thread) while ``load()`` runs; returns its result."""

        async def main() -> Any:
            token = trio.lowlevel.current_trio_token()
            thread = threading.Thread(target=self._thread, args=(token,), daemon=True)
            thread.start()
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._serve)
                    await trio.lowlevel.checkpoint()
                    result = await load()
                    nursery.cancel_scope.cancel()
            finally:
                self._calls.put(None)
                thread.join()
            return result

        return trio.run(main)

    async def _serve(self) -> None:
        self._writer = trio.lowlevel.current_task()
        while True:
            if not self._pending:
                self._writer_parked = True
                await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.SUCCEEDED)
            batch, self._pending = self._pending, []
            self.batches += 1
            if self._mode == "thread":
                self._calls.put(batch)
            elif self._mode == "inline":
                self._answer(batch, self._commit([item for _, item in batch]))
            else:
                self._answer(batch, [None] * len(batch))
            await trio.lowlevel.checkpoint()

    def _thread(self, token: trio.lowlevel.TrioToken) -> None:
        while (batch := self._calls.get()) is not None:
            results = self._commit([item for _, item in batch])
            token.run_sync_soon(self._answer, batch, results)

    def _answer(self, batch: list[tuple[Any, Any]], results: list[Any]) -> None:
        for (task, _), result in zip(batch, results, strict=True):
            trio.lowlevel.reschedule(task, outcome.Value(result))
        if self._after is not None:
            self._after()

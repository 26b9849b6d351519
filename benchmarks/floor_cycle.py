"""The full-cycle floor for ``queue_floor.py``: the leanest enqueue → claim → complete in Trio.

One writer commits each batch of requests on a thread (completes, then inserts, then claims, as
finagent orders them); 16 producers enqueue one job per call; a dispatcher claims up to 1,024
jobs in flight and hands them to 64 workers, which complete each one. No request objects, no
JSON, a 7-column table with only the key and due indexes. ``sqlite_only`` runs the same
statements back to back (complete 16, insert 16, claim 16 a transaction) with no Trio.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Any

import outcome
import trio
import trio.lowlevel

from finagent.adapters.sqlite_schema import PAGE_SIZE

if TYPE_CHECKING:
    from pathlib import Path

PRODUCERS, WORKERS, CAPACITY = 16, 64, 1024
_CLAIM = (
    "UPDATE jobs SET status = 'running', lease_until = ? WHERE id IN (SELECT id FROM jobs"
    " WHERE status = 'pending' AND type = 'cycle' AND run_at <= ? ORDER BY run_at, id LIMIT ?)"
    " RETURNING id"
)


def _open(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    for pragma in (
        f"page_size = {PAGE_SIZE}",
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "cache_size = -65536",
        "wal_autocheckpoint = 0",
    ):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, type TEXT, key TEXT UNIQUE,"
        " payload TEXT, status TEXT, run_at REAL, lease_until REAL)"
    )
    conn.execute("CREATE INDEX jobs_due ON jobs (type, run_at, id) WHERE status = 'pending'")
    return conn


class _Store:
    def __init__(self, db: Path) -> None:
        self.conn = _open(db)
        self.next_id = 1

    def apply(self, done: list[int], keys: list[str], claim: int) -> list[int]:
        """One transaction: complete ``done``, insert ``keys``, claim up to ``claim`` jobs."""
        now = time.time()
        execute = self.conn.execute
        execute("BEGIN IMMEDIATE")
        if done:
            marks = ",".join("?" * len(done))
            execute(f"UPDATE jobs SET status = 'done' WHERE id IN ({marks})", done)
        if keys:
            params: list[Any] = []
            for key in keys:
                params += (self.next_id, "cycle", key, "{}", "pending", now, None)
                self.next_id += 1
            rows = ",".join(["(?,?,?,?,?,?,?)"] * len(keys))
            execute(f"INSERT INTO jobs VALUES {rows}", params)
        claimed = [r[0] for r in execute(_CLAIM, (now + 300, now, claim))] if claim else []
        execute("COMMIT")
        return claimed


class CycleSkeleton:
    """Producers, a dispatcher and workers over one lean group-commit writer on a thread."""

    def __init__(self, db: Path) -> None:
        self.store = _Store(db)
        self.pending: list[tuple[Any, str, Any]] = []
        self.writer: Any = None
        self.writer_parked = False
        self.wake = trio.Event()
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def _thread(self, token: trio.lowlevel.TrioToken) -> None:
        while (batch := self._calls.get()) is not None:
            done = [arg for _, kind, arg in batch if kind == "done"]
            keys = [arg for _, kind, arg in batch if kind == "enq"]
            claim = sum(arg for _, kind, arg in batch if kind == "claim")
            claimed = self.store.apply(done, keys, claim)
            token.run_sync_soon(self._answer, batch, claimed)

    def _answer(self, batch: list[tuple[Any, str, Any]], claimed: list[int]) -> None:
        for task, kind, _ in batch:
            trio.lowlevel.reschedule(task, outcome.Value(claimed if kind == "claim" else None))
        self.wake.set()

    async def _serve(self) -> None:
        self.writer = trio.lowlevel.current_task()
        while True:
            if not self.pending:
                self.writer_parked = True
                await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.SUCCEEDED)
            batch, self.pending = self.pending, []
            self._calls.put(batch)
            await trio.lowlevel.checkpoint()

    async def _ask(self, kind: str, arg: Any) -> Any:
        self.pending.append((trio.lowlevel.current_task(), kind, arg))
        if self.writer_parked:
            self.writer_parked = False
            trio.lowlevel.reschedule(self.writer)
        return await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)

    def run(self, jobs: int) -> float:
        """Every job enqueued, claimed and completed; returns jobs/s."""
        total = jobs // PRODUCERS * PRODUCERS
        state = {"in_flight": 0, "done": 0}
        finished = trio.Event()
        send, receive = trio.open_memory_channel[int](CAPACITY)

        async def producer(p: int) -> None:
            for i in range(jobs // PRODUCERS):
                await self._ask("enq", f"c{p}-{i}")

        async def dispatcher() -> None:
            while True:
                self.wake = trio.Event()  # before the claim: a commit during it wakes us
                free = CAPACITY - state["in_flight"]
                ids = await self._ask("claim", free) if free else []
                for job_id in ids:
                    state["in_flight"] += 1
                    send.send_nowait(job_id)
                if not ids:
                    await self.wake.wait()

        async def worker() -> None:
            async for job_id in receive:
                await self._ask("done", job_id)
                state["in_flight"] -= 1
                state["done"] += 1
                if state["done"] == total:
                    finished.set()

        async def main() -> float:
            token = trio.lowlevel.current_trio_token()
            thread = threading.Thread(target=self._thread, args=(token,), daemon=True)
            thread.start()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._serve)
                nursery.start_soon(dispatcher)
                for _ in range(WORKERS):
                    nursery.start_soon(worker)
                t0 = time.perf_counter()
                for p in range(PRODUCERS):
                    nursery.start_soon(producer, p)
                await finished.wait()
                elapsed = time.perf_counter() - t0
                nursery.cancel_scope.cancel()
            self._calls.put(None)
            thread.join()
            return elapsed

        elapsed = trio.run(main)
        count_done = "SELECT count(*) FROM jobs WHERE status = 'done'"
        (count,) = self.store.conn.execute(count_done).fetchone()
        self.store.conn.close()
        assert count == total, f"{count} of {total} jobs done"
        return total / elapsed


def sqlite_only_cycle(db: Path, jobs: int) -> float:
    """The cycle's statements with no Trio: complete 16, insert 16, claim 16 a transaction."""
    store = _Store(db)
    claimed: list[int] = []
    t0 = time.perf_counter()
    for b in range(jobs // PRODUCERS):
        claimed = store.apply(claimed, [f"c{p}-{b}" for p in range(PRODUCERS)], PRODUCERS)
    store.apply(claimed, [], 0)
    elapsed = time.perf_counter() - t0
    store.conn.close()
    return jobs // PRODUCERS * PRODUCERS / elapsed

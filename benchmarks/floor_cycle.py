"""The full-cycle floor for ``queue_floor.py``: the leanest enqueue → claim → complete in Trio.

One writer commits each batch of requests on a thread (completes, then inserts, then claims, as
finagent orders them); 16 producers enqueue one job per call; a dispatcher claims up to 1,024
jobs in flight and hands them to 64 workers, which complete each one. No request objects, no
JSON, a 7-column table with only the key and due indexes. ``sqlite_only`` runs the same
statements back to back (complete 16, insert 16, claim 16 a transaction) with no Trio.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import trio

from benchmarks.floor_writer import LeanWriter, open_db

if TYPE_CHECKING:
    from pathlib import Path

PRODUCERS, WORKERS, CAPACITY = 16, 64, 1024
_TABLE = (
    "id INTEGER PRIMARY KEY, type TEXT, key TEXT UNIQUE, payload TEXT, status TEXT,"
    " run_at REAL, lease_until REAL"
)
_CLAIM = (
    "UPDATE jobs SET status = 'running', lease_until = ? WHERE id IN (SELECT id FROM jobs"
    " WHERE status = 'pending' AND type = 'cycle' AND run_at <= ? ORDER BY run_at, id LIMIT ?)"
    " RETURNING id"
)


class _Store:
    def __init__(self, db: Path) -> None:
        self.conn = open_db(db, _TABLE)
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
    """Producers, a dispatcher and workers over one :class:`LeanWriter` on a thread."""

    def __init__(self, db: Path) -> None:
        self.store = _Store(db)
        self.wake = trio.Event()
        self.writer = LeanWriter(self._commit, "thread", after=self._committed)

    def _commit(self, items: list[tuple[str, Any]]) -> list[Any]:
        done = [arg for kind, arg in items if kind == "done"]
        keys = [arg for kind, arg in items if kind == "enq"]
        claim = sum(arg for kind, arg in items if kind == "claim")
        claimed = self.store.apply(done, keys, claim)
        return [claimed if kind == "claim" else None for kind, _ in items]

    def _committed(self) -> None:
        self.wake.set()

    def run(self, jobs: int) -> float:
        """Every job enqueued, claimed and completed; returns jobs/s."""
        total = jobs // PRODUCERS * PRODUCERS
        state = {"in_flight": 0, "done": 0}
        finished = trio.Event()
        send, receive = trio.open_memory_channel[int](CAPACITY)
        ask = self.writer.ask

        async def producer(p: int) -> None:
            for i in range(jobs // PRODUCERS):
                await ask(("enq", f"c{p}-{i}"))

        async def dispatcher() -> None:
            while True:
                self.wake = trio.Event()  # before the claim: a commit during it wakes us
                free = CAPACITY - state["in_flight"]
                ids = await ask(("claim", free)) if free else []
                for job_id in ids:
                    state["in_flight"] += 1
                    send.send_nowait(job_id)
                if not ids:
                    await self.wake.wait()

        async def worker() -> None:
            async for job_id in receive:
                await ask(("done", job_id))
                state["in_flight"] -= 1
                state["done"] += 1
                if state["done"] == total:
                    finished.set()

        async def load() -> float:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(dispatcher)
                for _ in range(WORKERS):
                    nursery.start_soon(worker)
                t0 = time.perf_counter()
                for p in range(PRODUCERS):
                    nursery.start_soon(producer, p)
                await finished.wait()
                elapsed = time.perf_counter() - t0
                nursery.cancel_scope.cancel()
            return elapsed

        elapsed = self.writer.run(load)
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

"""Floors under ``python -m benchmarks queue``: how fast could a Trio + SQLite queue go here?

Every figure uses the targets' shape: 16 producers, one job per call, each call answered only
after its batch committed (or, with no store, after the writer handled it).

* ``plumbing``: finagent's own ``PersistentJobQueue``, ``JobWriter`` (on its thread, as in the
  daemon) and ``Dispatcher``, driven by the same phases as ``python -m benchmarks queue``, over an
  in-memory store that does no I/O at all: the enqueue and full-cycle rates with SQLite gone.
* ``skeleton``: the leanest group commit that can be written with Trio: a list of parked tasks,
  one writer task, no request objects, no checks, no JSON, a 6-column table with only the key
  and due indexes. ``none`` commits nothing; ``inline`` commits each batch on the loop (which
  finagent must not do: it blocks the loop); ``thread`` commits each batch on one thread, as
  finagent does, and also reports the thread's CPU time per batch of 16. ``sqlite_only`` runs
  the same commits of 16 rows back to back in a plain loop, with no Trio at all.
  ``thread_paced_1000`` is the thread skeleton at the publish-latency target's load: one
  enqueue every millisecond, each alone, p50 and p99 in µs.
* ``skeleton_cycle_thread`` and ``skeleton_cycle_sqlite_only``: the same for the full cycle
  (``floor_cycle.py``): lean producers, dispatcher and workers over a lean writer on a thread,
  and the cycle's statements alone with no Trio.

    python -m benchmarks.queue_floor --jobs 20000 --runs 5 [--paced-seconds 3] [--json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel

from benchmarks.floor_cycle import PRODUCERS, CycleSkeleton, sqlite_only_cycle
from benchmarks.floor_writer import LeanWriter, open_db
from benchmarks.queue_bench import cycle_phase, enqueue_phase
from finagent.domain.jobs import Job, JobStatus, QueuePolicy, QueueStats
from finagent.ports.queue import Claim, Complete, Enqueue, NextDue, Recover, Stats
from finagent.services.persistence import JobWriter, PersistentJobQueue


class MemoryStore:
    """A job store with no I/O: just enough of ``JobStore.apply`` for the bench's phases."""

    def __init__(self) -> None:
        self._keys: dict[str, Job] = {}
        self._pending: collections.deque[Job] = collections.deque()
        self._done = collections.Counter[str]()
        self._next_id = 1

    def apply(self, ops: list[Any], now: float, policy: QueuePolicy) -> list[object]:
        out: list[object] = []
        for op in ops:
            match op:
                case Enqueue(jobs, parent_id):
                    out.append([self._enqueue(new, parent_id, now, policy) for new in jobs])
                case Claim(_, limit, _):
                    n = min(limit, len(self._pending))
                    out.append([self._pending.popleft() for _ in range(n)])
                case Complete():
                    self._done["cycle"] += 1
                    out.append([])
                case Recover():
                    out.append([])
                case NextDue():
                    out.append(None)
                case Stats():
                    counts = {(t, JobStatus.DONE): n for t, n in self._done.items()}
                    out.append(QueueStats(counts, None))
                case _:
                    raise TypeError(f"MemoryStore does not do {op!r}")
        return out

    def _enqueue(self, new: Any, parent_id: int | None, now: float, policy: QueuePolicy) -> Job:
        job = self._keys.get(new.key)
        if job is None:
            job = Job(
                self._next_id, new.type, new.key, new.payload, JobStatus.PENDING, 0,
                policy.max_attempts, now, now, now, parent_id=parent_id,
            )  # fmt: skip
            self._next_id += 1
            self._keys[new.key] = job
            self._pending.append(job)
        return job

    def close(self) -> None:
        pass


def plumbing(phase: str, jobs: int) -> float:
    """One ``python -m benchmarks queue`` phase through finagent's writer over ``MemoryStore``."""

    async def body() -> float:
        send, receive = trio.open_memory_channel[Any](4096)
        writer = JobWriter(MemoryStore(), QueuePolicy(lease_s=300.0), time.time)
        q = PersistentJobQueue(send)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.serve, receive)
            if phase == "enqueue":
                rate, _ = await enqueue_phase(q, jobs, PRODUCERS, "e")
            else:
                rate = await cycle_phase(q, writer, jobs, PRODUCERS)
            nursery.cancel_scope.cancel()
        return rate

    return trio.run(body)


_TABLE = (
    "id INTEGER PRIMARY KEY, type TEXT, key TEXT UNIQUE, payload TEXT, status TEXT, run_at REAL"
)


class Skeleton:
    """The leanest Trio group commit of one-job enqueues (:class:`LeanWriter`)."""

    def __init__(self, mode: str, db: Path) -> None:
        self.mode = mode
        self.conn = open_db(db, _TABLE)
        self.writer = LeanWriter(self.commit, "thread" if mode == "sqlite_only" else mode)
        self.store_cpu: list[float] = []
        self._next_id = 1

    def commit(self, keys: list[str]) -> list[None]:
        """Insert one row per key and commit, the way the store does it (one statement)."""
        cpu = time.thread_time()
        params: list[Any] = []
        for key in keys:
            params += (self._next_id, "bench", key, '{"i":1}', "pending", 1.0)
            self._next_id += 1
        self.conn.execute("BEGIN IMMEDIATE")
        marks = ",".join(["(?,?,?,?,?,?)"] * len(keys))
        self.conn.execute(f"INSERT INTO jobs VALUES {marks}", params)
        self.conn.execute("COMMIT")
        self.store_cpu.append(time.thread_time() - cpu)
        return [None] * len(keys)

    def run(self, jobs: int) -> dict[str, float]:
        """``PRODUCERS`` closed-loop producers, one job a call; jobs/s and batch size."""
        if self.mode == "sqlite_only":
            t0 = time.perf_counter()
            for b in range(jobs // PRODUCERS):
                self.commit([f"k{p}-{b}" for p in range(PRODUCERS)])
            return self._figures(jobs, time.perf_counter() - t0, jobs // PRODUCERS)

        async def producer(p: int) -> None:
            for i in range(jobs // PRODUCERS):
                await self.writer.ask(f"k{p}-{i}")

        async def load() -> float:
            t0 = time.perf_counter()
            async with trio.open_nursery() as producers:
                for p in range(PRODUCERS):
                    producers.start_soon(producer, p)
            return time.perf_counter() - t0

        elapsed = self.writer.run(load)
        return self._figures(jobs, elapsed, self.writer.batches)

    def paced(self, rate: float, seconds: float) -> dict[str, float]:
        """One enqueue every ``1/rate`` s, each in its own task; latency p50/p99 in µs."""
        latencies: list[float] = []

        async def one(i: int) -> None:
            t = time.perf_counter()
            await self.writer.ask(f"p{i}")
            latencies.append(time.perf_counter() - t)

        async def load() -> None:
            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                for i in range(int(rate * seconds)):
                    await trio.sleep_until(start + i / rate)
                    nursery.start_soon(one, i)

        self.writer.run(load)
        self.conn.close()
        ordered = sorted(latencies)
        return {
            "p50_us": ordered[len(ordered) // 2] * 1e6,
            "p99_us": ordered[int(len(ordered) * 0.99)] * 1e6,
        }

    def _figures(self, jobs: int, elapsed: float, batches: int) -> dict[str, float]:
        self.conn.close()
        done = jobs // PRODUCERS * PRODUCERS
        figures = {"jobs_s": done / elapsed, "batch": done / batches}
        if self.store_cpu:
            figures["store_cpu_us_per_batch"] = statistics.median(self.store_cpu) * 1e6
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--paced-seconds", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
    for _ in range(args.runs):  # interleaved, so drifts in the machine's state hit every figure
        for phase in ("enqueue", "cycle"):
            runs[f"plumbing_{phase}"].append({"jobs_s": plumbing(phase, args.jobs)})
        for mode in ("none", "inline", "thread", "sqlite_only"):
            with tempfile.TemporaryDirectory() as tmp:
                runs[f"skeleton_{mode}"].append(Skeleton(mode, Path(tmp) / "s.db").run(args.jobs))
        with tempfile.TemporaryDirectory() as tmp:
            cycle = CycleSkeleton(Path(tmp) / "c.db").run(args.jobs)
            runs["skeleton_cycle_thread"].append({"jobs_s": cycle})
        with tempfile.TemporaryDirectory() as tmp:
            cycle = sqlite_only_cycle(Path(tmp) / "c.db", args.jobs)
            runs["skeleton_cycle_sqlite_only"].append({"jobs_s": cycle})
        with tempfile.TemporaryDirectory() as tmp:
            skeleton = Skeleton("thread", Path(tmp) / "p.db")
            runs["skeleton_thread_paced_1000"].append(skeleton.paced(1000.0, args.paced_seconds))
    out = {
        name: {k: round(statistics.median(r[k] for r in rs), 1) for k in rs[0]}
        for name, rs in runs.items()
    }
    out["meta"] = {"jobs": args.jobs, "producers": PRODUCERS, "runs": args.runs}
    out["meta"]["load"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(out))
        return
    for name, figures in out.items():
        if name != "meta":
            print(f"{name:<28}" + "  ".join(f"{k} {v:,.0f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()

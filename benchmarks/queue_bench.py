"""``python -m benchmarks queue``: the SQLite job queue in its production shape, in real time.

Every figure goes through the real path: PersistentJobQueue → JobWriter mailbox → group commit on
the worker thread → reply. An enqueue counts when its reply arrived (it is durable then).
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any, Literal

import trio

from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import Job, JobStatus, NewJob, QueuePolicy
from finagent.services.dispatcher import Dispatcher
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["cycle_phase", "enqueue_phase", "format_queue_bench", "run_queue_bench"]

_POLICY = QueuePolicy(lease_s=300.0)
_PER_CALL = 32  # jobs per enqueue call in the batched phase: a scan's candidates, say


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _with_queue(
    path: Path, synchronous: str, body: Callable[[PersistentJobQueue, JobWriter], Any]
) -> Any:
    sync: Literal["NORMAL", "FULL"] = "FULL" if synchronous.upper() == "FULL" else "NORMAL"
    store = SqliteJobStore.open(path, synchronous=sync)
    send, receive = trio.open_memory_channel[WriteRequest](4096)
    writer = JobWriter(store, _POLICY, time.time)
    queue = PersistentJobQueue(send)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.serve, receive)
            result = await body(queue, writer)
            nursery.cancel_scope.cancel()
    finally:
        store.close()
    return result


async def enqueue_phase(
    queue: PersistentJobQueue, jobs: int, producers: int, prefix: str, per_call: int = 1
) -> tuple[float, list[float]]:
    """``producers`` tasks enqueue ``jobs`` in all, ``per_call`` a call; jobs/s and latencies."""
    latencies: list[float] = []
    share = jobs // producers // per_call * per_call

    async def producer(p: int) -> None:
        for i in range(0, share, per_call):
            batch = [NewJob("bench", f"{prefix}{p}-{i + k}", {"i": i + k}) for k in range(per_call)]
            t = time.perf_counter()
            await queue.enqueue(batch)
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for p in range(producers):
            nursery.start_soon(producer, p)
    return share * producers / (time.perf_counter() - t0), latencies


async def cycle_phase(
    queue: PersistentJobQueue, writer: JobWriter, jobs: int, producers: int
) -> float:
    """Enqueue → dispatcher claim → 64 workers complete, until every job is done; jobs/s."""
    dispatcher = Dispatcher(queue, time.time, node="bench", poll_s=0.05, poll_max_s=0.25)
    writer.listen(dispatcher.on_commit)
    send, receive = trio.open_memory_channel[Job](1024)
    owner = dispatcher.register("worker", ["cycle"], send)
    finished = trio.Event()
    total = (jobs // producers) * producers
    done = 0

    async def worker() -> None:
        nonlocal done
        async for job in receive:
            await queue.complete(job.id, owner)
            done += 1
            if done == total:
                finished.set()

    async def producer(p: int) -> None:
        for i in range(jobs // producers):
            await queue.enqueue([NewJob("cycle", f"c{p}-{i}")])

    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(dispatcher.run)
        for _ in range(64):
            nursery.start_soon(worker)
        for p in range(producers):
            nursery.start_soon(producer, p)
        await finished.wait()
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    stats = await queue.stats()
    assert stats.counts.get(("cycle", JobStatus.DONE)) == total
    return total / elapsed


async def _paced_phase(queue: PersistentJobQueue, rate: float, seconds: float) -> list[float]:
    latencies: list[float] = []
    interval = 1.0 / rate

    async def one(i: int) -> None:
        t = time.perf_counter()
        await queue.enqueue([NewJob("paced", f"p{i}")])
        latencies.append(time.perf_counter() - t)

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i in range(int(rate * seconds)):
            await trio.sleep_until(start + i * interval)
            nursery.start_soon(one, i)
    return latencies


def run_queue_bench(*, jobs: int, producers: int, synchronous: str, db_dir: Path) -> dict[str, Any]:
    """Run every phase on fresh databases in ``db_dir``; returns the figures as a flat dict."""
    producers = max(1, producers)

    async def enqueue_body(queue: PersistentJobQueue, writer: JobWriter) -> Any:
        rate, lat = await enqueue_phase(queue, jobs, producers, "e")
        return rate, lat, writer.requests / max(1, writer.batches)

    async def batch_body(queue: PersistentJobQueue, writer: JobWriter) -> float:
        rate, _ = await enqueue_phase(queue, jobs, producers, "b", per_call=_PER_CALL)
        return rate

    async def cycle_body(queue: PersistentJobQueue, writer: JobWriter) -> float:
        return await cycle_phase(queue, writer, jobs, producers)

    async def paced_body(queue: PersistentJobQueue, writer: JobWriter) -> list[float]:
        return await _paced_phase(queue, 1000.0, 3.0)

    enq_rate, sat_lat, per_batch = trio.run(
        _with_queue, db_dir / "enqueue.db", synchronous, enqueue_body
    )
    batch_rate = trio.run(_with_queue, db_dir / "batch.db", synchronous, batch_body)
    cycle_rate = trio.run(_with_queue, db_dir / "cycle.db", synchronous, cycle_body)
    paced = trio.run(_with_queue, db_dir / "paced.db", synchronous, paced_body)
    us = 1e6
    return {
        "jobs": jobs,
        "producers": producers,
        "synchronous": synchronous.upper(),
        "enqueue_jobs_s": round(enq_rate),
        "cycle_jobs_s": round(cycle_rate),
        "requests_per_commit": round(per_batch, 1),
        "enqueue_batched_jobs_s": round(batch_rate),
        "jobs_per_call": _PER_CALL,
        "publish_p50_us": round(_pct(paced, 0.50) * us),
        "publish_p99_us": round(_pct(paced, 0.99) * us),
        "publish_max_us": round(max(paced) * us),
        "saturated_p50_us": round(_pct(sat_lat, 0.50) * us),
        "saturated_p99_us": round(_pct(sat_lat, 0.99) * us),
        "saturated_max_us": round(max(sat_lat) * us),
        "saturated_mean_us": round(statistics.fmean(sat_lat) * us),
    }


def format_queue_bench(result: dict[str, Any]) -> str:
    """Human-readable lines for one run."""
    return "\n".join(
        [
            f"queue bench: {result['jobs']} jobs, {result['producers']} producers, "
            f"synchronous={result['synchronous']}",
            f"  enqueue (durable)      {result['enqueue_jobs_s']:>10,} jobs/s"
            f"  ({result['requests_per_commit']} requests/commit)",
            f"  enqueue, {result['jobs_per_call']} jobs a call"
            f"  {result['enqueue_batched_jobs_s']:>10,} jobs/s  (not the single-job figure)",
            f"  full cycle             {result['cycle_jobs_s']:>10,} jobs/s",
            f"  publish @1,000/s       p50 {result['publish_p50_us']} µs  "
            f"p99 {result['publish_p99_us']} µs  max {result['publish_max_us']} µs",
            f"  publish @saturation    p50 {result['saturated_p50_us']} µs  "
            f"p99 {result['saturated_p99_us']} µs  max {result['saturated_max_us']} µs",
        ]
    )

"""``python -m benchmarks queue --backend redis``: the Redis queue, with rq on it as a peer.

Publish latency: one enqueue per call (durable per Redis's fsync policy when it returns),
paced at 1,000 jobs/s, p50/p99. Full cycle: producers in this process enqueue ``jobs`` jobs
while ``workers`` worker *processes* claim (batches of 256) and complete each job with its own
call (pipelined on the connection); the figure is
jobs / (last completion - first enqueue). rq runs the same workload (enqueue a no-op job, rq
``SimpleWorker`` processes in burst mode) when it is installed (``pip install rq``); finagent
never imports it otherwise.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import time
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

import redis
import trio

from finagent.adapters.redis import scripts as lua
from finagent.adapters.redis.queue import RedisJobQueue, encode_jobs, open_redis_queue
from finagent.domain.jobs import NewJob, QueuePolicy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from multiprocessing.synchronize import Event
    from pathlib import Path

__all__ = ["format_redis_queue_bench", "noop", "run_redis_queue_bench"]

_POLICY = QueuePolicy(lease_s=300.0)
_BATCH = 256  # claim batch of a bench worker
_IDLE_MIN_S, _IDLE_MAX_S = 0.0005, 0.008


def noop() -> None:
    """The rq peer's job: nothing, so the figure is queue overhead only."""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _paced(queue: RedisJobQueue, rate: float, seconds: float) -> list[float]:
    latencies: list[float] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for i in range(int(rate * seconds)):
            await trio.sleep_until(start + i / rate)

            async def one(i: int = i) -> None:
                t = time.perf_counter()
                await queue.enqueue([NewJob("paced", f"p{i}")])
                latencies.append(time.perf_counter() - t)

            nursery.start_soon(one)
    return latencies


async def _produce(queue: RedisJobQueue, jobs: int, producers: int) -> None:
    share = jobs // producers

    async def producer(p: int) -> None:
        for i in range(share):
            await queue.enqueue([NewJob("cycle", f"c{p}-{i}")])

    async with trio.open_nursery() as nursery:
        for p in range(producers):
            nursery.start_soon(producer, p)


async def _work(url: str, ns: str, total: int, go: Event, ready: Any) -> None:
    async with open_redis_queue(url, _POLICY, time.time, namespace=ns) as queue:
        owner = f"bench-{uuid.uuid4().hex[:6]}"
        redis = queue.transport
        ready.put(owner)
        await trio.to_thread.run_sync(go.wait)
        idle = _IDLE_MIN_S
        while True:
            jobs = await queue.claim(["cycle"], _BATCH, owner)
            if jobs:
                idle = _IDLE_MIN_S
                # one complete per job, as the SQLite bench does; concurrent calls share
                # round trips on the connection (automatic pipelining)
                async with trio.open_nursery() as nursery:
                    for job in jobs:
                        nursery.start_soon(queue.complete, job.id, owner)
                done = await redis.execute("INCRBY", f"{ns}:bench:done", len(jobs))
                if int(done) >= total:
                    await redis.execute("SET", f"{ns}:bench:end", repr(time.time()))
            elif await redis.execute("EXISTS", f"{ns}:bench:end"):
                return
            else:  # back off while the queue is empty: empty claims cost Redis CPU
                await trio.sleep(idle)
                idle = min(_IDLE_MAX_S, idle * 2)


def _worker_main(url: str, ns: str, total: int, go: Event, ready: Any) -> None:
    trio.run(_work, url, ns, total, go, ready)


def _cycle(url: str, jobs: int, producers: int, workers: int) -> float:
    ctx = mp.get_context("spawn")
    ns = "{bench-" + uuid.uuid4().hex[:8] + "}"
    total = (jobs // producers) * producers
    go, ready = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker_main, args=(url, ns, total, go, ready)) for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=60)

    async def produce() -> float:
        async with open_redis_queue(url, _POLICY, time.time, namespace=ns) as q:
            t0 = time.time()
            go.set()
            await _produce(q, jobs, producers)
            return t0

    t0 = trio.run(produce)
    for proc in procs:
        proc.join(timeout=600)
    client = redis.Redis.from_url(url, decode_responses=True)
    end = float(client.get(f"{ns}:bench:end") or "nan")
    keys = list(client.scan_iter(match=f"{ns}:*", count=1000))
    client.delete(*keys)
    return total / (end - t0)


def _rq_peer(url: str, jobs: int, workers: int) -> dict[str, Any]:
    try:
        rq: Any = importlib.import_module("rq")
    except ImportError:
        return {"rq": "not installed (pip install rq)"}
    conn = redis.Redis.from_url(url)
    queue = rq.Queue(f"bench-{uuid.uuid4().hex[:6]}", connection=conn)
    lat = []
    for _ in range(2000):
        t = time.perf_counter()
        queue.enqueue(noop)
        lat.append(time.perf_counter() - t)
        time.sleep(max(0.0, 0.001 - (time.perf_counter() - t)))  # paced at ~1,000/s
    queue.empty()
    t0 = time.perf_counter()
    for _ in range(jobs):
        queue.enqueue(noop)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_rq_work, args=(url, queue.name)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=600)
    elapsed = time.perf_counter() - t0
    us = 1e6
    return {
        "rq_publish_p50_us": round(_pct(lat, 0.5) * us),
        "rq_publish_p99_us": round(_pct(lat, 0.99) * us),
        "rq_cycle_jobs_s": round(jobs / elapsed),
    }


def _rq_work(url: str, name: str) -> None:
    rq: Any = importlib.import_module("rq")
    conn = redis.Redis.from_url(url)
    worker = rq.SimpleWorker([rq.Queue(name, connection=conn)], connection=conn)
    worker.work(burst=True, logging_level="ERROR")


async def _sequential(call: Callable[[int], Awaitable[object]], n: int) -> int:
    lat = []
    for i in range(n):
        t = time.perf_counter()
        await call(i)
        lat.append(time.perf_counter() - t)
    return round(_pct(lat, 0.5) * 1e6)


async def _concurrent(call: Callable[[int], Awaitable[object]], n: int, tasks: int) -> int:
    async def run(k: int) -> None:
        for i in range(k, n, tasks):
            await call(i)

    t = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for k in range(tasks):
            nursery.start_soon(run, k)
    return round(n / (time.perf_counter() - t))


async def _transport_probe(url: str, n: int) -> dict[str, int]:
    """One ENQUEUE script per call over each transport: sequential p50, and jobs/s with 64
    concurrent tasks. redis-py's sync client on worker threads (8, the old adapter), the Trio
    transport blocking on the loop (``inline``), and the Trio transport (auto-pipelined)."""
    client = redis.Redis.from_url(url, decode_responses=True, max_connections=8)
    script = client.register_script(lua.ENQUEUE)
    limiter = trio.CapacityLimiter(8)
    out: dict[str, int] = {}

    def argv(ns: str, i: int) -> list[str]:
        return [ns, repr(time.time()), "5", "", *encode_jobs([NewJob("probe", f"k{i}")])]

    async def thread_call(ns: str, i: int) -> object:
        args = argv(ns, i)
        return await trio.to_thread.run_sync(lambda: script(keys=[], args=args), limiter=limiter)

    for mode in ("thread", "inline", "trio_socket"):
        for shape in ("seq", "concurrent"):
            ns = "{probe-" + uuid.uuid4().hex[:8] + "}"
            async with open_redis_queue(
                url, _POLICY, time.time, namespace=ns, inline=mode == "inline"
            ) as queue:
                if mode == "thread":
                    call: Callable[[int], Awaitable[object]] = partial(thread_call, ns)
                else:
                    call = partial(_enqueue_one, queue)
                if shape == "seq":
                    out[f"transport_{mode}_p50_us"] = await _sequential(call, n)
                else:
                    out[f"transport_{mode}_64_tasks_jobs_s"] = await _concurrent(call, n, 64)
                await queue.delete_namespace()
    client.close()
    return out


async def _enqueue_one(queue: RedisJobQueue, i: int) -> object:
    return await queue.enqueue([NewJob("probe", f"k{i}")])


def run_redis_queue_bench(
    *, jobs: int, producers: int, url: str, sqlite_dir: Path | None = None
) -> dict[str, Any]:
    """Publish latency and full-cycle throughput with 1 and 4 worker processes, and rq.

    With ``sqlite_dir`` the SQLite bench (``benchmarks.queue_bench``) runs in the same call,
    its figures prefixed ``sqlite_``, for a side-by-side table.
    """
    producers = max(1, producers)
    probe = trio.run(_transport_probe, url, 2000)

    async def paced() -> list[float]:
        ns = "{bench-" + uuid.uuid4().hex[:8] + "}"
        async with open_redis_queue(url, _POLICY, time.time, namespace=ns) as queue:
            try:
                return await _paced(queue, 1000.0, 3.0)
            finally:
                await queue.delete_namespace()

    lat = trio.run(paced)
    us = 1e6
    return {
        "jobs": jobs,
        "producers": producers,
        "publish_p50_us": round(_pct(lat, 0.50) * us),
        "publish_p99_us": round(_pct(lat, 0.99) * us),
        "cycle_1_worker_jobs_s": round(_cycle(url, jobs, producers, 1)),
        "cycle_4_workers_jobs_s": round(_cycle(url, jobs, producers, 4)),
        **probe,
        **_rq_peer(url, jobs, 4),
        **_sqlite_side(jobs, producers, sqlite_dir),
    }


def _sqlite_side(jobs: int, producers: int, sqlite_dir: Path | None) -> dict[str, Any]:
    if sqlite_dir is None:
        return {}
    from benchmarks.queue_bench import run_queue_bench

    r = run_queue_bench(jobs=jobs, producers=producers, synchronous="NORMAL", db_dir=sqlite_dir)
    keys = ("publish_p50_us", "publish_p99_us", "cycle_jobs_s")
    return {f"sqlite_{k}": r[k] for k in keys}


def format_redis_queue_bench(result: dict[str, Any]) -> str:
    """Human-readable lines for one run."""
    lines = [
        f"redis queue bench: {result['jobs']} jobs, {result['producers']} producers",
        f"  publish @1,000/s       p50 {result['publish_p50_us']} µs  "
        f"p99 {result['publish_p99_us']} µs",
        f"  full cycle, 1 worker   {result['cycle_1_worker_jobs_s']:>10,} jobs/s",
        f"  full cycle, 4 workers  {result['cycle_4_workers_jobs_s']:>10,} jobs/s",
    ]
    lines += [
        "  transport p50 (seq.)   thread {transport_thread_p50_us} µs, inline "
        "{transport_inline_p50_us} µs, trio socket {transport_trio_socket_p50_us} µs".format(
            **result
        ),
        "  transport, 64 tasks    thread {transport_thread_64_tasks_jobs_s:,}, inline "
        "{transport_inline_64_tasks_jobs_s:,}, trio socket "
        "{transport_trio_socket_64_tasks_jobs_s:,} jobs/s".format(**result),
    ]
    if "sqlite_cycle_jobs_s" in result:
        lines.append(
            f"  sqlite (1 process)     publish p50 {result['sqlite_publish_p50_us']} µs, "
            f"cycle {result['sqlite_cycle_jobs_s']:,} jobs/s"
        )
    if "rq_cycle_jobs_s" in result:
        lines += [
            f"  rq publish @1,000/s    p50 {result['rq_publish_p50_us']} µs  "
            f"p99 {result['rq_publish_p99_us']} µs",
            f"  rq full cycle, 4 wkrs  {result['rq_cycle_jobs_s']:>10,} jobs/s",
        ]
    return "\n".join(lines)

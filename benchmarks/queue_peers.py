"""Peers of ``python -m benchmarks queue``, run side by side on the same machine.

huey's SqliteStorage and persist-queue's SQLiteAckQueue, each with its default durability
(one commit per operation). Install with ``pip install huey persist-queue`` (the ``bench``
extra); finagent itself never imports them.

    python -m benchmarks.queue_peers --jobs 20000 --runs 3 [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def huey_run(db: Path, jobs: int) -> dict[str, float]:
    from huey.storage import SqliteStorage

    store = SqliteStorage("bench", filename=str(db))
    t0 = time.perf_counter()
    for i in range(jobs):
        store.enqueue(f"job-{i}".encode())
    enqueue = jobs / (time.perf_counter() - t0)
    store.flush_queue()
    t0 = time.perf_counter()
    for i in range(jobs):
        store.enqueue(f"cycle-{i}".encode())
        data = store.dequeue()
        assert data is not None
        store.put_data(data, b"done")  # huey's "complete": store the result
    cycle = jobs / (time.perf_counter() - t0)
    store.close()
    return {"enqueue_jobs_s": enqueue, "cycle_jobs_s": cycle}


def persistqueue_run(db: Path, jobs: int) -> dict[str, float]:
    from persistqueue import SQLiteAckQueue

    q = SQLiteAckQueue(str(db), auto_commit=True, multithreading=False)
    t0 = time.perf_counter()
    for i in range(jobs):
        q.put({"i": i})
    enqueue = jobs / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(jobs):
        q.put({"c": i})
        item = q.get(block=False)
        q.ack(item)
    cycle = jobs / (time.perf_counter() - t0)
    return {"enqueue_jobs_s": enqueue, "cycle_jobs_s": cycle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict[str, dict[str, float]] = {}
    for name, fn in (("huey_sqlite", huey_run), ("persistqueue_ack", persistqueue_run)):
        runs = []
        for r in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(fn(Path(tmp) / f"{name}-{r}.db", args.jobs))
        out[name] = {k: round(statistics.median(x[k] for x in runs)) for k in runs[0]}
    if args.json:
        print(json.dumps(out))
    else:
        for name, figures in out.items():
            enq, cyc = figures["enqueue_jobs_s"], figures["cycle_jobs_s"]
            print(f"{name:<18} enqueue {enq:>9,} jobs/s   cycle {cyc:>9,} jobs/s")


if __name__ == "__main__":
    main()

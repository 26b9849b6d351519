"""A job workload for the crash test, run as ``python -m tests.integration.queue_crash_workload``.

It enqueues ``n`` "a" jobs (idempotent keys, so a restart re-enqueues nothing), and a worker
service completes each "a" job with one "b" output job, then completes the "b" jobs. It exits 0
once every job is done. The parent SIGKILLs it at random moments and restarts it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import trio

from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import Job, JobStatus, NewJob, QueuePolicy
from finagent.services.dispatcher import Dispatcher
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest

POLICY = QueuePolicy(lease_s=60.0, max_attempts=1000, retry_base_s=0.0, retry_max_s=0.0)


async def main(path: Path, n: int) -> None:
    store = SqliteJobStore.open(path)
    send, receive = trio.open_memory_channel[WriteRequest](1024)
    writer = JobWriter(store, POLICY, time.time)
    queue = PersistentJobQueue(send)
    dispatcher = Dispatcher(queue, time.time, node="crash", poll_s=0.05, poll_max_s=0.1)
    writer.listen(dispatcher.on_commit)
    jobs_in, jobs_out = trio.open_memory_channel[Job](64)
    owner = dispatcher.register("worker", ["a", "b"], jobs_in)

    async def work() -> None:
        async with trio.open_nursery() as pool:
            for _ in range(16):
                pool.start_soon(worker_task)

    async def worker_task() -> None:
        async for job in jobs_out:
            outputs = [NewJob("b", f"b-of-{job.key}", {"from": job.id})] if job.type == "a" else []
            await queue.complete(job.id, owner, outputs)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        for start in range(0, n, 100):
            await queue.enqueue([NewJob("a", f"a{i}", {"i": i}) for i in range(start, start + 100)])
        print("ready", flush=True)
        nursery.start_soon(dispatcher.run)
        nursery.start_soon(work)
        while True:
            stats = await queue.stats()
            if stats.total(JobStatus.DONE) == 2 * n:
                break
            await trio.sleep(0.02)
        nursery.cancel_scope.cancel()
    store.close()


if __name__ == "__main__":
    trio.run(main, Path(sys.argv[1]), int(sys.argv[2]))

"""Real crashes against a real redis-server: a SIGKILLed worker, a SIGKILLed server, leaders.

Waiting here is bounded polling of other processes (a subprocess's output, Redis's expiry of a
lease or lock on the wall clock): these tests run on Trio's real clock on purpose.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trio

from finagent.adapters.redis.queue import RedisUnavailableError, open_redis_queue
from finagent.domain.jobs import JobStatus, NewJob, QueuePolicy
from tests.redis_server import RedisServer, redis_server, running_redis

__all__ = ["redis_server"]  # the fixture, used by name below

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.redis_procs", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)


async def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    stdout = proc.stdout
    with trio.fail_after(30):  # a Python start-up, bounded
        return await trio.to_thread.run_sync(stdout.readline)


async def test_a_sigkilled_worker_s_job_is_reclaimed_after_its_lease(
    redis_server: RedisServer,
) -> None:
    policy = QueuePolicy(lease_s=0.5, max_attempts=3)
    ns = "{crash}"
    async with open_redis_queue(redis_server.url, policy, time.time, namespace=ns) as queue:
        (job,) = await queue.enqueue([NewJob("scan", "mid-job")])
        proc = spawn("worker", redis_server.url, ns, "0.5")
        try:
            line = await read_line(proc)
            assert line == f"CLAIMED {job.id}\n", proc.stderr
            dead_owner = f"worker-{proc.pid}"
        finally:
            kill(proc)
        held = await queue.get(job.id)
        assert held is not None and held.lease_owner == dead_owner
        assert await queue.claim(["scan"], 1, "w2") == []  # the lease still runs
        with trio.fail_after(10):  # the lease expires on the wall clock
            while not await queue.recover():  # noqa: ASYNC110 - Redis state on the wall clock
                await trio.sleep(0.05)
        (again,) = await queue.claim(["scan"], 1, "w2")
        assert again.id == job.id and again.attempts == 2
        assert again.last_error is not None and dead_owner in again.last_error
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        (entry,) = client.xpending_range(f"{ns}:s:scan", "workers", "-", "+", 10)
        assert entry["consumer"] == "w2" and entry["times_delivered"] == 2
        await queue.complete(again.id, "w2", [NewJob("score", "out")])
        done = await queue.get(job.id)
        assert done is not None and done.status is JobStatus.DONE


@pytest.fixture
def always_fsync(tmp_path: Path) -> Iterator[RedisServer]:
    data = tmp_path / "redis"
    data.mkdir()
    with running_redis(data, fsync="always") as server:
        yield server


async def test_sigkilled_redis_loses_nothing_acknowledged(always_fsync: RedisServer) -> None:
    server = always_fsync
    policy = QueuePolicy(lease_s=60.0, max_attempts=3)
    acked: list[int] = []
    enough = trio.Event()
    completed: dict[int, int] = {}
    async with open_redis_queue(server.url, policy, time.time) as queue:

        async def produce() -> None:
            i = 0
            try:
                while True:
                    (job,) = await queue.enqueue([NewJob("scan", f"k{i}", {"i": i})])
                    acked.append(job.id)
                    if len(acked) == 300:
                        enough.set()
                    i += 1
                    if i % 3 == 0:
                        (leased,) = await queue.claim(["scan"], 1, "w")
                        (out,) = await queue.complete(leased.id, "w", [NewJob("score", f"o{i}")])
                        completed[leased.id] = out.id
            except RedisUnavailableError:
                return  # the server died under this call: it was never acknowledged

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            with trio.fail_after(30):
                await enough.wait()
            await trio.to_thread.run_sync(server.kill)
    assert len(acked) >= 300 and completed
    server.start()  # same port and directory: the AOF is replayed
    async with open_redis_queue(server.url, policy, time.time) as queue:
        for job_id in acked:
            job = await queue.get(job_id)
            assert job is not None, f"acknowledged job {job_id} lost"
        for job_id, out_id in completed.items():
            done, out = await queue.get(job_id), await queue.get(out_id)
            assert done is not None and done.status is JobStatus.DONE
            assert out is not None and out.parent_id == job_id
        stats = await queue.stats()
        # the call in flight at the kill may have been applied without its reply arriving
        assert len(completed) <= stats.total(JobStatus.DONE) <= len(completed) + 1
        assert stats.total(JobStatus.PENDING) >= len(acked) - len(completed)


async def test_one_leader_at_a_time_across_processes(redis_server: RedisServer) -> None:
    key = "{crash}:leader:scheduler"
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    first = spawn("leader", redis_server.url, key, "0.6")
    second = spawn("leader", redis_server.url, key, "0.6")
    try:
        assert await read_line(first) == "CONTENDING\n"
        assert await read_line(second) == "CONTENDING\n"
        with trio.fail_after(10):
            while not client.lrange(f"{key}:log", 0, -1):  # noqa: ASYNC110 - other processes
                await trio.sleep(0.02)
        (pid,) = client.lrange(f"{key}:log", 0, -1)
        leader, follower = (first, second) if int(pid) == first.pid else (second, first)
        assert await read_line(leader) == "LEADER\n"
        await trio.sleep(1.5)  # > 2 ttl: the leader renews, the follower keeps out
        assert client.lrange(f"{key}:log", 0, -1) == [pid]
        kill(leader)  # no release: the follower takes over once the ttl runs out
        assert await read_line(follower) == "LEADER\n"
        assert client.lrange(f"{key}:log", 0, -1) == [pid, str(follower.pid)]
    finally:
        kill(first)
        kill(second)

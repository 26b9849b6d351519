"""The trimmed script replies: jobs built from what the caller sent equal the stored hashes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis
import trio

from finagent.adapters.redis.queue import RedisJobQueue
from finagent.domain.jobs import Job, JobStatus, NewJob, QueuePolicy
from tests.contract.backends import virtual_now
from tests.contract.redis_backend import open_redis_harness
from tests.redis_server import shared_redis_server

POLICY = QueuePolicy(lease_s=30.0, max_attempts=4, retry_base_s=2.0, retry_max_s=10.0)


@pytest.fixture
async def queue() -> AsyncIterator[RedisJobQueue]:
    async with open_redis_harness(POLICY) as h:
        yield h.queue


async def stored(queue: RedisJobQueue, job: Job) -> Job:
    got = await queue.get(job.id)
    assert got is not None
    return got


async def test_new_jobs_built_client_side_equal_their_hashes(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    await trio.sleep(1.25)  # a clock reading with a fraction
    jobs = await queue.enqueue(
        [
            NewJob("scan", "due", {"sym": "AAPL", "n": [1, 2], "t": (3, 4)}),
            NewJob("scan", "later", {}, run_at=virtual_now() + 7.5, max_attempts=9),
            NewJob("score", "due2", {"x": None}),
        ],
        parent_id=41,
    )
    assert [j.status for j in jobs] == [JobStatus.PENDING] * 3
    assert jobs[0].payload == {"sym": "AAPL", "n": [1, 2], "t": [3, 4]}  # JSON round trip
    assert (jobs[1].max_attempts, jobs[0].max_attempts) == (9, POLICY.max_attempts)
    assert jobs[1].run_at - jobs[1].created_at == 7.5
    for job in jobs:
        assert job == await stored(queue, job)
        assert job.parent_id == 41


async def test_a_key_repeated_in_one_call_or_later_returns_the_stored_job(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    first, again = await queue.enqueue([NewJob("scan", "k", {"v": 1}), NewJob("scan", "k")])
    assert first == again
    await trio.sleep(5)
    (later,) = await queue.enqueue([NewJob("scan", "k", {"v": 2})])
    assert later == first == await stored(queue, first)


async def test_claimed_and_completed_outputs_equal_their_hashes(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    await queue.enqueue([NewJob("scan", "a", {"p": 1})])
    await trio.sleep(2)
    (job,) = await queue.claim(["scan"], 5, "w")
    assert job.attempts == 1 and job.lease_owner == "w"
    assert job == await stored(queue, job)
    await trio.sleep(3)
    outs = await queue.complete(job.id, "w", [NewJob("score", "b", {"q": 2}), NewJob("scan", "a")])
    assert outs[0] == await stored(queue, outs[0])
    assert outs[0].parent_id == job.id
    assert outs[1].id == job.id and outs[1].status is JobStatus.DONE  # existing key: its hash


async def test_claims_keep_the_counts_per_type(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    await queue.enqueue([NewJob("scan", f"s{i}") for i in range(5)])
    await queue.enqueue([NewJob("score", f"c{i}") for i in range(3)])
    claimed = await queue.claim(["scan", "score"], 6, "w")
    assert len(claimed) == 6
    counts = (await queue.stats()).counts
    running = {t: counts.get((t, JobStatus.RUNNING), 0) for t in ("scan", "score")}
    pending = {t: counts.get((t, JobStatus.PENDING), 0) for t in ("scan", "score")}
    assert sum(running.values()) == 6 and sum(pending.values()) == 2
    for t in ("scan", "score"):
        assert running[t] == sum(1 for j in claimed if j.type == t)
    client = redis.Redis.from_url(shared_redis_server().url, decode_responses=True)
    leased = client.zcard(f"{queue.namespace}:leases")
    client.close()
    assert leased == 6

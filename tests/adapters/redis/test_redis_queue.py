"""RedisJobQueue beyond the contract: streams, PEL redelivery, dead letters, retention, time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import redis
import trio

from finagent.adapters.redis.queue import RedisJobQueue, RedisUnavailableError, open_redis_queue
from finagent.domain.jobs import JobStatus, NewJob, QueuePolicy
from tests.contract.backends import virtual_now
from tests.contract.redis_backend import open_redis_harness
from tests.redis_server import shared_redis_server

POLICY = QueuePolicy(lease_s=30.0, max_attempts=3, retry_base_s=2.0, retry_max_s=10.0)


@pytest.fixture
async def queue() -> AsyncIterator[RedisJobQueue]:
    async with open_redis_harness(POLICY) as h:
        yield h.queue


def raw() -> redis.Redis:
    return redis.Redis.from_url(shared_redis_server().url, decode_responses=True)


def ns(q: RedisJobQueue) -> str:
    return q._ns


async def test_a_socket_wait_lets_virtual_time_jump_but_lease_times_are_the_calls_start(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    # While the task waits for Redis's reply every task is blocked, so autojump
    # skips to the next deadline (the sleeper's). Stored times come from `now` read before.
    await queue.enqueue([NewJob("scan", "a")])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep, 1000)
        before = virtual_now()
        (job,) = await queue.claim(["scan"], 1, "w")
        # time jumped during the call if the loop went idle before the thread returned
        assert virtual_now() - before in (0, 1000)
        assert job.lease_until == before + POLICY.lease_s
        assert job.updated_at == before


async def test_expired_lease_is_redelivered_from_the_pel_with_xclaim(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    (job,) = await queue.enqueue([NewJob("scan", "a")])
    await queue.claim(["scan"], 1, "crashed")
    await trio.sleep(POLICY.lease_s + 1)
    assert await queue.recover() == 1
    (again,) = await queue.claim(["scan"], 1, "w2")
    assert again.id == job.id and again.attempts == 2
    stream = f"{ns(queue)}:s:scan"
    (entry,) = raw().xpending_range(stream, "workers", "-", "+", 10)
    assert entry["consumer"] == "w2" and entry["times_delivered"] == 2
    assert await queue.extend(again.id, "w2") is True
    await queue.complete(again.id, "w2")
    assert raw().xpending(stream, "workers")["pending"] == 0


async def test_dead_jobs_go_to_the_dead_letter_stream(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    await queue.enqueue([NewJob("scan", "bad"), NewJob("scan", "once", max_attempts=1)])
    bad, _once = await queue.claim(["scan"], 2, "w")
    await queue.fail(bad.id, "w", "bad payload", retryable=False)
    await trio.sleep(POLICY.lease_s + 1)
    assert await queue.recover() == 1
    letters = await queue.dead_letters()
    assert [(d["key"], d["type"]) for d in letters] == [("once", "scan"), ("bad", "scan")]
    assert letters[1]["error"] == "bad payload"
    assert letters[0]["error"].startswith("lease of w lost after attempt 1")
    again = await queue.requeue(bad.id)
    assert again is not None and again.status is JobStatus.PENDING
    assert [j.id for j in await queue.claim(["scan"], 5, "w")] == [bad.id]


async def test_a_retry_without_back_off_is_claimable_at_once(autojump_clock: object) -> None:
    policy = QueuePolicy(lease_s=30.0, max_attempts=3, retry_base_s=0.0, retry_max_s=0.0)
    async with open_redis_harness(policy) as h:
        q = h.queue
        await q.enqueue([NewJob("scan", "a")])
        (job,) = await q.claim(["scan"], 1, "w")
        await q.fail(job.id, "w", "flaky")
        (again,) = await q.claim(["scan"], 1, "w2")
        assert again.id == job.id and again.attempts == 2 and again.last_error == "flaky"


async def test_requeue_of_a_running_job_hands_its_entry_to_the_next_claim(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    await queue.enqueue([NewJob("plan", "p")])
    (job,) = await queue.claim(["plan"], 1, "stuck")
    back = await queue.requeue(job.id)
    assert back is not None and back.status is JobStatus.PENDING and back.attempts == 0
    (again,) = await queue.claim(["plan"], 1, "w")
    assert again.id == job.id and again.attempts == 1 and again.lease_owner == "w"


async def test_prune_frees_keys_and_trims_the_streams(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    await queue.enqueue([NewJob("scan", f"k{i}") for i in range(5)])
    for job in await queue.claim(["scan"], 5, "w"):
        await queue.complete(job.id, "w")
    await queue.enqueue([NewJob("scan", "still-pending")])
    stream = f"{ns(queue)}:s:scan"
    assert raw().xlen(stream) == 6
    await trio.sleep(10)
    assert await queue.prune(5) == 5
    assert raw().xlen(stream) == 2  # the last delivered entry and the undelivered one
    (fresh,) = await queue.enqueue([NewJob("scan", "k0")])
    assert fresh.id > 6  # the key was freed with its job
    (leased,) = await queue.claim(["scan"], 1, "w")
    assert leased.key == "still-pending"
    assert await queue.prune(0) == 0
    assert raw().xlen(stream) >= 2  # an entry still in the PEL is never trimmed


async def test_prune_works_through_more_than_one_batch(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    await queue.enqueue([NewJob("scan", f"k{i}") for i in range(1001)])
    for job in await queue.claim(["scan"], 2000, "w"):
        await queue.complete(job.id, "w")
    await trio.sleep(1)
    assert await queue.prune(0.5) == 1001
    assert (await queue.stats()).counts == {}


async def test_claims_rotate_over_types_so_none_starves(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    await queue.enqueue([NewJob("a", f"a{i}") for i in range(3)])
    await queue.enqueue([NewJob("b", f"b{i}") for i in range(3)])
    types = [(await queue.claim(["a", "b", "a"], 1, "w"))[0].type for _ in range(4)]
    assert sorted(types) == ["a", "a", "b", "b"]


async def test_next_due_is_the_earliest_pending_run_at(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    assert await queue.next_due(["scan"]) is None and await queue.next_due([]) is None
    await queue.enqueue([NewJob("scan", "later", run_at=virtual_now() + 50)])
    await queue.enqueue([NewJob("plan", "sooner", run_at=virtual_now() + 20)])
    assert await queue.next_due(["scan", "plan"]) == pytest.approx(virtual_now() + 20)
    assert await queue.next_due(["scan"]) == pytest.approx(virtual_now() + 50)
    assert await queue.enqueue([]) == []


async def test_inline_calls_keep_virtual_time_exact(autojump_clock: object) -> None:
    async with open_redis_harness(POLICY, inline=True) as h, trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep, 1000)
        await h.queue.enqueue([NewJob("scan", "a")])
        assert trio.current_time() == 0
        nursery.cancel_scope.cancel()


@pytest.fixture
async def inline_queue() -> AsyncIterator[RedisJobQueue]:
    async with open_redis_harness(POLICY, inline=True) as h:
        yield h.queue


async def test_housekeeping_recovers_and_prunes(
    inline_queue: RedisJobQueue, autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    # Inline: the test and the housekeeping task both sleep, so thread calls would let
    # autojump skip over deadlines (trio #456); inline Redis calls keep each tick exact.
    queue = inline_queue
    await queue.enqueue([NewJob("scan", "a"), NewJob("scan", "b")])
    a, b = await queue.claim(["scan"], 2, "w")
    await queue.complete(a.id, "w")
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda **kw: queue.run_housekeeping(every_s=5, retain_done_s=20, **kw))
        await trio.sleep(POLICY.lease_s + 1)  # housekeeping ran at 0, 5, ..., 30
        got = await queue.get(b.id)
        assert got is not None and got.status is JobStatus.RUNNING
        await trio.sleep(5)  # the tick at 35 sees the lease (until 30) expired
        got = await queue.get(b.id)
        assert got is not None and got.status is JobStatus.PENDING
        assert await queue.get(a.id) is None
        assert "recovered 1 job(s)" in caplog.text
        raw().set(f"{ns(queue)}:leases", "not a zset")  # every recover now fails
        with caplog.at_level(logging.WARNING):
            await trio.sleep(5)
        assert "housekeeping skipped: redis error: WRONGTYPE" in caplog.text
        nursery.cancel_scope.cancel()


async def test_unknown_redis_errors_are_queue_errors(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    raw().set(f"{ns(queue)}:keys", "not a hash")
    with pytest.raises(RedisUnavailableError, match="WRONGTYPE"):
        await queue.enqueue([NewJob("scan", "a")])
    assert await queue.delete_namespace() == 1
    assert await queue.delete_namespace() == 0
    assert await queue.get(1) is None and await queue.requeue(1) is None


async def test_an_unreachable_server_is_a_one_line_error(tmp_path: object) -> None:
    url = "redis://127.0.0.1:1/0"
    with pytest.raises(RedisUnavailableError, match="redis unavailable: ConnectionRefusedError"):
        async with open_redis_queue(url, POLICY, virtual_now):
            pass  # pragma: no cover - never reached: opening fails


async def test_lua_errors_become_the_queue_s_typed_errors(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    from finagent.domain.jobs import JobNotFoundError, LeaseLostError

    (job,) = await queue.enqueue([NewJob("scan", "a")])
    with pytest.raises(JobNotFoundError, match="does not exist"):
        await queue.fail(job.id + 7, "w", "x")
    with pytest.raises(LeaseLostError, match="is pending, not leased to w"):
        await queue.complete(job.id, "w")


async def test_a_corrupt_job_hash_is_a_queue_error_and_the_policy_is_exposed(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    assert queue.policy == POLICY
    raw().set(f"{ns(queue)}:job:1", "not a hash")
    with pytest.raises(RedisUnavailableError, match="redis error: WRONGTYPE"):
        await queue.get(1)


async def test_session_jobs_scans_every_key_and_skips_pruned_ids(
    queue: RedisJobQueue, autojump_clock: object
) -> None:
    from finagent.adapters.redis.state import session_jobs

    await queue.enqueue([NewJob("scan", f"scan:2025-01-06:{i}") for i in range(1500)])
    await queue.enqueue([NewJob("scan", "scan:2025-01-07:0")])
    raw().hset(f"{ns(queue)}:keys", "gone:2025-01-06", 99999)  # its job was pruned
    trail = await session_jobs(queue, "2025-01-06")
    assert len(trail) == 1500 and {t.key for t in trail} == {
        f"scan:2025-01-06:{i}" for i in range(1500)
    }

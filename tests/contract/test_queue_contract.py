"""JobQueue/QueueAdmin contract: every backend must pass this suite unchanged."""

from __future__ import annotations

import pytest
import trio

from finagent.domain.jobs import JobNotFoundError, JobStatus, LeaseLostError, NewJob, retry_delay
from tests.contract.backends import QueueHarness, virtual_now


def jobs(n: int, job_type: str = "scan", prefix: str = "k") -> list[NewJob]:
    return [NewJob(job_type, f"{prefix}{i}", {"i": i}) for i in range(n)]


async def test_enqueue_returns_pending_jobs_with_distinct_ids(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    stored = await queue_harness.queue.enqueue(jobs(3))
    assert [j.status for j in stored] == [JobStatus.PENDING] * 3
    assert len({j.id for j in stored}) == 3
    assert [j.payload for j in stored] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert all(
        j.attempts == 0 and j.max_attempts == queue_harness.policy.max_attempts for j in stored
    )
    assert all(j.run_at == pytest.approx(virtual_now()) for j in stored)


async def test_enqueueing_an_existing_key_returns_the_stored_job(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    (first,) = await queue_harness.queue.enqueue([NewJob("scan", "same", {"v": 1})])
    again = await queue_harness.queue.enqueue(
        [NewJob("scan", "same", {"v": 2}), NewJob("x", "same")]
    )
    assert [j.id for j in again] == [first.id, first.id]
    assert again[0].payload == {"v": 1}
    stats = await queue_harness.queue.stats()
    assert stats.total(JobStatus.PENDING) == 1


async def test_concurrent_enqueues_of_one_key_store_one_job(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    ids: list[int] = []

    async def put() -> None:
        (job,) = await queue_harness.queue.enqueue([NewJob("scan", "race")])
        ids.append(job.id)

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(put)
    assert len(ids) == 20 and len(set(ids)) == 1


async def test_claim_leases_due_jobs_of_the_given_types_in_order(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q = queue_harness.queue
    await q.enqueue([NewJob("scan", "late", run_at=virtual_now() + 60)])
    await q.enqueue(jobs(3) + jobs(2, job_type="plan", prefix="p"))
    claimed = await q.claim(["scan"], 10, "w1")
    assert [j.key for j in claimed] == ["k0", "k1", "k2"]
    for job in claimed:
        assert job.status is JobStatus.RUNNING
        assert job.lease_owner == "w1" and job.attempts == 1
        assert job.lease_until == pytest.approx(virtual_now() + queue_harness.policy.lease_s)
    assert await q.claim(["scan"], 10, "w2") == []
    assert [j.key for j in await q.claim(["plan", "other"], 1, "w2")] == ["p0"]
    assert await q.claim([], 5, "w2") == [] and await q.claim(["plan"], 0, "w2") == []


async def test_delayed_job_is_claimable_only_from_its_run_at(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q = queue_harness.queue
    await q.enqueue([NewJob("scan", "later", run_at=virtual_now() + 10)])
    assert await q.claim(["scan"], 1, "w") == []
    await trio.sleep(10)
    assert [j.key for j in await q.claim(["scan"], 1, "w")] == ["later"]


async def test_complete_marks_done_and_stores_outputs_atomically(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q = queue_harness.queue
    await q.enqueue(jobs(1))
    (job,) = await q.claim(["scan"], 1, "w")
    outs = await q.complete(job.id, "w", [NewJob("plan", "o1"), NewJob("plan", "o2", {"a": 1})])
    assert [o.parent_id for o in outs] == [job.id, job.id]
    assert [o.status for o in outs] == [JobStatus.PENDING] * 2
    done = await q.get(job.id)
    assert done is not None and done.status is JobStatus.DONE and done.finished_at is not None
    assert done.lease_owner is None
    assert [j.key for j in await q.claim(["plan"], 5, "w")] == ["o1", "o2"]


async def test_complete_without_the_lease_is_refused(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q = queue_harness.queue
    await q.enqueue(jobs(1))
    (job,) = await q.claim(["scan"], 1, "w")
    with pytest.raises(LeaseLostError):
        await q.complete(job.id, "intruder", [NewJob("plan", "never")])
    with pytest.raises(JobNotFoundError):
        await q.complete(job.id + 1000, "w")
    await q.complete(job.id, "w")
    with pytest.raises(LeaseLostError):
        await q.complete(job.id, "w")
    assert (await q.stats()).total(JobStatus.PENDING) == 0


async def test_fail_retries_with_backoff_then_goes_dead(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q, policy = queue_harness.queue, queue_harness.policy
    await q.enqueue(jobs(1))
    for attempt in range(1, policy.max_attempts):
        (job,) = await q.claim(["scan"], 1, "w")
        assert job.attempts == attempt
        failed = await q.fail(job.id, "w", f"boom {attempt}")
        delay = retry_delay(attempt, policy.retry_base_s, policy.retry_max_s)
        assert failed.status is JobStatus.PENDING and failed.last_error == f"boom {attempt}"
        assert failed.run_at == pytest.approx(virtual_now() + delay)
        assert await q.claim(["scan"], 1, "w") == []
        await trio.sleep(delay)
    (job,) = await q.claim(["scan"], 1, "w")
    dead = await q.fail(job.id, "w", "final")
    assert dead.status is JobStatus.DEAD and dead.last_error == "final"
    assert dead.attempts == policy.max_attempts
    await trio.sleep(3600)
    assert await q.claim(["scan"], 1, "w") == []


async def test_non_retryable_failure_is_dead_at_once(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q = queue_harness.queue
    await q.enqueue(jobs(1))
    (job,) = await q.claim(["scan"], 1, "w")
    dead = await q.fail(job.id, "w", "bad payload", retryable=False)
    assert dead.status is JobStatus.DEAD and dead.attempts == 1
    with pytest.raises(LeaseLostError):
        await q.fail(job.id, "w", "again")
    with pytest.raises(JobNotFoundError):
        await q.fail(job.id + 99, "w", "nope")


async def test_extend_renews_only_a_held_lease(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q, lease = queue_harness.queue, queue_harness.policy.lease_s
    await q.enqueue(jobs(1))
    (job,) = await q.claim(["scan"], 1, "w")
    await trio.sleep(lease - 1)
    assert await q.extend(job.id, "w") is True
    assert await q.extend(job.id, "other") is False
    await trio.sleep(lease - 1)
    assert await q.recover() == 0
    held = await q.get(job.id)
    assert held is not None and held.lease_until == pytest.approx(virtual_now() + 1)
    await trio.sleep(2)
    assert await q.recover() == 1
    assert await q.extend(job.id, "w") is False


async def test_recover_returns_expired_leases_to_pending(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q, lease = queue_harness.queue, queue_harness.policy.lease_s
    await q.enqueue(jobs(2))
    first = await q.claim(["scan"], 1, "w")
    await trio.sleep(lease / 2)
    second = await q.claim(["scan"], 1, "w")
    await trio.sleep(lease / 2 + 1)
    assert await q.recover() == 1
    back = await q.get(first[0].id)
    assert back is not None and back.status is JobStatus.PENDING and back.lease_owner is None
    still = await q.get(second[0].id)
    assert still is not None and still.status is JobStatus.RUNNING
    with pytest.raises(LeaseLostError):
        await q.complete(first[0].id, "w")
    assert [j.attempts for j in await q.claim(["scan"], 1, "w2")] == [2]


async def test_expired_lease_out_of_attempts_goes_dead(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q, lease = queue_harness.queue, queue_harness.policy.lease_s
    await q.enqueue([NewJob("scan", "once", max_attempts=1)])
    (job,) = await q.claim(["scan"], 1, "w")
    await trio.sleep(lease + 1)
    assert await q.recover() == 1
    dead = await q.get(job.id)
    assert dead is not None and dead.status is JobStatus.DEAD and dead.last_error


async def test_requeue_brings_a_dead_job_back_with_fresh_attempts(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q = queue_harness.queue
    await q.enqueue([NewJob("scan", "d", max_attempts=1)])
    (job,) = await q.claim(["scan"], 1, "w")
    await q.fail(job.id, "w", "boom")
    again = await q.requeue(job.id)
    assert again is not None and again.status is JobStatus.PENDING and again.attempts == 0
    assert await q.requeue(job.id + 500) is None
    (claimed,) = await q.claim(["scan"], 1, "w")
    await q.complete(claimed.id, "w")
    done = await q.requeue(claimed.id)
    assert done is not None and done.status is JobStatus.DONE


async def test_stats_count_by_type_and_status(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q = queue_harness.queue
    empty = await q.stats()
    assert empty.counts == {} and empty.oldest_pending_age_s is None
    await q.enqueue(jobs(3) + jobs(1, job_type="plan", prefix="p"))
    await q.enqueue([NewJob("plan", "future", run_at=virtual_now() + 999)])
    (job,) = await q.claim(["scan"], 1, "w")
    await q.complete(job.id, "w")
    await q.claim(["scan"], 1, "w")
    await trio.sleep(7)
    stats = await q.stats()
    assert stats.counts == {
        ("scan", JobStatus.DONE): 1,
        ("scan", JobStatus.RUNNING): 1,
        ("scan", JobStatus.PENDING): 1,
        ("plan", JobStatus.PENDING): 2,
    }
    assert stats.oldest_pending_age_s == pytest.approx(7)
    assert stats.total(JobStatus.PENDING) == 3


async def test_prune_deletes_old_done_jobs_only(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q = queue_harness.queue
    await q.enqueue(jobs(2))
    a, b = await q.claim(["scan"], 2, "w")
    await q.complete(a.id, "w")
    await q.fail(b.id, "w", "x", retryable=False)
    await trio.sleep(100)
    assert await q.prune(200) == 0
    assert await q.prune(50) == 1
    assert await q.get(a.id) is None
    dead = await q.get(b.id)
    assert dead is not None and dead.status is JobStatus.DEAD


async def test_a_bad_request_does_not_poison_concurrent_ones(
    queue_harness: QueueHarness, autojump_clock: object
) -> None:
    q = queue_harness.queue
    errors: list[Exception] = []
    stored: list[str] = []

    async def bad() -> None:
        try:
            await q.enqueue([NewJob("scan", "ok-part"), NewJob("scan", "bad", {"x": object()})])
        except (TypeError, ValueError) as exc:
            errors.append(exc)

    async def good(i: int) -> None:
        (job,) = await q.enqueue([NewJob("scan", f"good{i}")])
        stored.append(job.key)

    async with trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(good, i)
        nursery.start_soon(bad)
        for i in range(5, 10):
            nursery.start_soon(good, i)
    assert len(errors) == 1 and len(stored) == 10
    stats = await q.stats()
    assert stats.total(JobStatus.PENDING) == 10  # the bad request left nothing behind

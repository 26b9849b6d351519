"""Stage settling a job: a lease lost before complete or fail, and the failure metrics."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from finagent.domain.jobs import Job, JobStatus, LeaseLostError, NewJob
from finagent.observability import Metrics
from finagent.services.stage import Stage

JOB = Job(7, "flatten", "flatten:test", {}, JobStatus.RUNNING, 1, 3, 0.0, 0.0, 0.0, lease_owner="w")


class _Handler:
    """Returns one output job, or raises ``error`` when set."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.handled: list[str] = []

    async def start(self) -> None:
        pass

    async def handle(self, job: Job, payload: object) -> list[NewJob]:
        self.handled.append(job.key)
        if self.error is not None:
            raise self.error
        return [NewJob("report", "report:next", {})]


class _Queue:
    """Settles jobs in memory; with ``lease_lost`` every settle finds the lease gone."""

    def __init__(self, *, lease_lost: bool = False, dead_after_fail: bool = False) -> None:
        self.lease_lost = lease_lost
        self.dead_after_fail = dead_after_fail
        self.completed: list[tuple[int, str, list[NewJob]]] = []
        self.failed: list[tuple[int, str, str, bool]] = []

    async def complete(self, job_id: int, owner: str, outputs: list[NewJob]) -> list[Job]:
        if self.lease_lost:
            raise LeaseLostError(f"job {job_id} is not running under {owner}")
        self.completed.append((job_id, owner, outputs))
        return []

    async def fail(self, job_id: int, owner: str, error: str, *, retryable: bool = True) -> Job:
        if self.lease_lost:
            raise LeaseLostError(f"job {job_id} is not running under {owner}")
        self.failed.append((job_id, owner, error, retryable))
        status = JobStatus.DEAD if self.dead_after_fail else JobStatus.PENDING
        return replace(JOB, status=status, last_error=error, lease_owner=None)


def _count(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"type": "flatten"})


async def test_a_result_after_the_lease_was_lost_is_dropped_with_a_warning(caplog) -> None:
    metrics = Metrics(process_collectors=False)
    queue = _Queue(lease_lost=True)
    stage = Stage(_Handler(), queue, lambda: 1.0, metrics=metrics)
    with caplog.at_level(logging.WARNING, "finagent.services.stage"):
        await stage.process(JOB)
    assert queue.completed == []
    assert "finished after its lease was lost" in caplog.text
    assert _count(metrics, "finagent_jobs_completed_total") is None  # not counted as done


async def test_a_failure_after_the_lease_was_lost_is_not_counted() -> None:
    metrics = Metrics(process_collectors=False)
    queue = _Queue(lease_lost=True)
    handler = _Handler(RuntimeError("broker down"))
    stage = Stage(handler, queue, lambda: 1.0, metrics=metrics)
    await stage.process(JOB)  # the LeaseLostError does not escape: the new owner settles it
    assert handler.handled == ["flatten:test"]
    assert queue.failed == []
    assert _count(metrics, "finagent_jobs_failed_total") is None


@pytest.mark.parametrize(("dead", "dead_count"), [(True, 1.0), (False, None)])
async def test_a_failure_is_counted_and_a_dead_one_counted_as_dead(dead, dead_count) -> None:
    metrics = Metrics(process_collectors=False)
    queue = _Queue(dead_after_fail=dead)
    stage = Stage(_Handler(RuntimeError("boom")), queue, lambda: 1.0, metrics=metrics)
    await stage.process(JOB)
    assert queue.failed == [(7, "w", "RuntimeError: boom", True)]
    assert _count(metrics, "finagent_jobs_failed_total") == 1
    assert _count(metrics, "finagent_jobs_dead_total") == dead_count


async def test_a_completed_job_counts_itself_and_leaves_its_outputs_to_the_queue() -> None:
    metrics = Metrics(process_collectors=False)
    queue = _Queue()
    stage = Stage(_Handler(), queue, lambda: 2.5, metrics=metrics)
    await stage.process(JOB)
    (done,) = queue.completed
    assert done[:2] == (7, "w") and [o.key for o in done[2]] == ["report:next"]
    assert _count(metrics, "finagent_jobs_completed_total") == 1
    # the queue every enqueue passes counts the outputs (CountingQueue), not the stage
    assert (
        metrics.registry.get_sample_value("finagent_jobs_enqueued_total", {"type": "report"})
        is None
    )

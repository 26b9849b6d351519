"""Stateful test: random enqueue/claim/complete/fail/crash/restart against a model."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from finagent.adapters.sqlite.schema import list_jobs
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import Job, JobStatus, LeaseLostError, NewJob, QueuePolicy
from finagent.ports.queue import Claim, Complete, Enqueue, Fail, Recover

POLICY = QueuePolicy(lease_s=10.0, max_attempts=3, retry_base_s=1.0, retry_max_s=4.0)
KEYS = st.sampled_from([f"k{i}" for i in range(8)])


class QueueModel(RuleBasedStateMachine):
    """The model: key -> expected status; outputs are keyed ``out-<input key>``."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.store = SqliteJobStore.open(self.dir / "q.db")
        self.now = 1000.0
        self.status: dict[str, JobStatus] = {}
        self.held: dict[int, str] = {}  # job id -> key, leased by "w"

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir)

    def apply(self, op: object) -> object:
        (result,) = self.store.apply([op], self.now, POLICY)  # type: ignore[list-item]
        return result

    @rule(key=KEYS)
    def enqueue(self, key: str) -> None:
        (job,) = self.apply(Enqueue([NewJob("a", key)]))  # type: ignore[misc]
        self.status.setdefault(key, JobStatus.PENDING)
        assert job.key == key

    @rule(n=st.integers(1, 4))
    def claim(self, n: int) -> None:
        claimed: list[Job] = self.apply(Claim(["a"], n, "w"))  # type: ignore[assignment]
        for job in claimed:
            assert self.status[job.key] is JobStatus.PENDING
            self.status[job.key] = JobStatus.RUNNING
            self.held[job.id] = job.key

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.held)))
        key = self.held.pop(job_id)
        self.apply(Complete(job_id, "w", [NewJob("out", f"out-{key}")]))
        self.status[key] = JobStatus.DONE

    @precondition(lambda self: self.held)
    @rule(data=st.data(), retryable=st.booleans())
    def fail(self, data: st.DataObject, retryable: bool) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.held)))
        key = self.held.pop(job_id)
        job: Job = self.apply(Fail(job_id, "w", "boom", retryable))  # type: ignore[assignment]
        self.status[key] = job.status
        assert job.status is (
            JobStatus.PENDING if retryable and job.attempts < POLICY.max_attempts
            else JobStatus.DEAD
        )  # fmt: skip

    @rule(seconds=st.sampled_from([0.5, 2.0, 5.0, 11.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def crash_and_restart(self) -> None:
        self.store.close()  # the process died; its leases are orphans
        self.store = SqliteJobStore.open(self.dir / "q.db")
        ids: list[int] = self.apply(Recover(orphans=True))  # type: ignore[assignment]
        assert sorted(ids) == sorted(self.held)
        for key in self.held.values():
            job = self._stored(key)
            spent = job.attempts >= job.max_attempts
            assert job.status is (JobStatus.DEAD if spent else JobStatus.PENDING)
            self.status[key] = job.status
        self.held.clear()
        for job_id in ids:
            assert self.apply(Complete(job_id, "w")).__class__ is LeaseLostError

    def _stored(self, key: str) -> Job:
        (job,) = [j for j in self._all() if j.key == key]
        return job

    def _all(self) -> list[Job]:
        return list_jobs(self.store._conn, limit=1_000)

    @invariant()
    def store_matches_model(self) -> None:
        stored = self._all()
        inputs = {j.key: j for j in stored if j.type == "a"}
        outputs = {j.key: j for j in stored if j.type == "out"}
        assert len({j.key for j in stored}) == len(stored)  # keys unique
        assert {k: j.status for k, j in inputs.items()} == self.status  # nothing disappears
        assert set(outputs) == {f"out-{k}" for k, s in self.status.items() if s is JobStatus.DONE}
        for out in outputs.values():
            assert out.parent_id is not None
        assert all(j.status is JobStatus.RUNNING for j in stored if j.id in self.held)


QueueModel.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestQueueModel = QueueModel.TestCase

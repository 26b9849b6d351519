"""An unreachable queue (Redis away) under the dispatcher, a stage and the scheduler's enqueue.

A real Redis queue behind :class:`~tests.fakes.queue.OutageQueue`, which refuses every call
while ``down``: the outage fails no job, burns no attempt, crashes no actor, and the work
flows again once the queue answers. Virtual time (autojump), so the retries' waits are exact.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

import pytest
import trio

from finagent.adapters.redis.queue import open_redis_queue
from finagent.domain.job_types import ScanJob
from finagent.domain.jobs import Job, JobStatus, NewJob, QueuePolicy, QueueUnavailableError
from finagent.domain.market import Session
from finagent.services.dispatcher import Dispatcher
from finagent.services.outage import RETRY_MAX_S, patiently
from finagent.services.stage import Stage
from tests.fakes.queue import OutageQueue
from tests.redis_server import shared_redis_server

_N = itertools.count()
SESSION = Session(
    date(2025, 1, 6), datetime(2025, 1, 6, 14, 30, tzinfo=UTC), datetime(2025, 1, 6, 21, tzinfo=UTC)
)


def _now() -> float:
    return 1.7e9 + trio.current_time()


class _Handler:
    """Takes the queue down while it works on the first job (a settle during the outage)."""

    def __init__(self, queue: OutageQueue, *, outage_s: float) -> None:
        self.queue = queue
        self.outage_s = outage_s
        self.handled: list[str] = []

    async def start(self) -> None:
        pass

    async def handle(self, job: Job, payload: Any) -> list[NewJob]:
        self.handled.append(job.key)
        if len(self.handled) == 1:
            self.queue.down = True

            async def back() -> None:
                await trio.sleep(self.outage_s)
                self.queue.down = False

            self.nursery.start_soon(back)
        return []


async def test_an_outage_fails_no_job_and_crashes_nothing(autojump_clock: Any) -> None:
    url = shared_redis_server().url
    policy = QueuePolicy(lease_s=600.0, max_attempts=1)  # one attempt: a burnt one is dead
    ns = f"{{outage{next(_N)}}}"
    async with open_redis_queue(url, policy, _now, namespace=ns, timeout_s=None) as redis_q:
        queue = OutageQueue(redis_q)
        send, receive = trio.open_memory_channel[Job](8)
        dispatcher = Dispatcher(queue, _now, poll_s=0.01, poll_max_s=0.5)
        dispatcher.register("scanner", ["scan"], send)
        handler = _Handler(queue, outage_s=7.0)
        stage = Stage(handler, queue, _now)
        payload = ScanJob(SESSION).encode()
        await redis_q.enqueue(
            [NewJob("scan", "scan:1", payload), NewJob("scan", "scan:2", payload)]
        )
        async with trio.open_nursery() as nursery:
            handler.nursery = nursery
            nursery.start_soon(dispatcher.run)
            t0 = trio.current_time()
            for _ in range(2):
                await stage.process(await receive.receive())
            took = trio.current_time() - t0
            nursery.cancel_scope.cancel()
        assert queue.refused > 0 and not queue.down
        assert 7.0 <= took <= 7.0 + RETRY_MAX_S  # the settle waited the outage out
        jobs = [await redis_q.get(i) for i in (1, 2)]
        assert [(j.status, j.attempts) for j in jobs if j] == [(JobStatus.DONE, 1)] * 2
        await redis_q.delete_namespace()


async def test_patiently_waits_out_the_outage_with_capped_doubling(autojump_clock: Any) -> None:
    tries: list[float] = []

    async def call() -> str:
        tries.append(trio.current_time())
        if len(tries) < 8:
            raise QueueUnavailableError("away")
        return "ok"

    t0 = trio.current_time()
    assert await patiently(call, "test") == "ok"
    gaps = [round(b - a, 6) for a, b in itertools.pairwise([t0, *tries])]
    assert gaps == [0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


async def test_a_job_whose_data_vanished_is_not_a_crash(autojump_clock: Any) -> None:
    url = shared_redis_server().url
    ns = f"{{outage{next(_N)}}}"
    async with open_redis_queue(
        url, QueuePolicy(600.0, 3), _now, namespace=ns, timeout_s=None
    ) as q:
        await q.enqueue([NewJob("scan", "scan:1", ScanJob(SESSION).encode())])
        (job,) = await q.claim(["scan"], 1, "me")
        await q.delete_namespace()  # Redis came back empty
        stage = Stage(_Handler(OutageQueue(q), outage_s=0.0), q, _now)
        stage._handler.nursery = _NoNursery()  # type: ignore[attr-defined]
        await stage.process(job)  # complete finds no job: logged, not raised


class _NoNursery:
    def start_soon(self, *_: object) -> None:
        pass


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="finagent.services.outage")

"""Dispatcher edge cases over a real SQLite queue: a full mailbox, a crash after a settle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from actors import ActorExited, ExitReason
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import Job, JobStatus, NewJob, QueuePolicy
from finagent.ports.queue import Complete
from finagent.services.dispatcher import Dispatcher
from tests.contract.backends import QueueHarness, open_sqlite_harness, virtual_now

POLICY = QueuePolicy(lease_s=30.0, max_attempts=3, retry_base_s=1.0, retry_max_s=4.0)


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[tuple[QueueHarness, Dispatcher]]:
    async with open_sqlite_harness(tmp_path / "q.db", POLICY) as h:
        dispatcher = Dispatcher(h.queue, virtual_now, node="test")
        h.writer.listen(dispatcher.on_commit)
        yield h, dispatcher


async def test_a_job_waits_for_a_busy_service_to_take_it(tmp_path: Path, autojump_clock) -> None:
    async with running(tmp_path) as (h, d):
        send, receive = trio.open_memory_channel[Job](0)  # no buffer: delivery waits for receive
        d.register("scanner", ["scan"], send, capacity=2)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(d.run)
            await h.queue.enqueue([NewJob("scan", "a"), NewJob("scan", "b")])
            await trio.sleep(10)  # the service is busy: both claimed, neither taken yet
            assert (await h.queue.stats()).counts[("scan", JobStatus.RUNNING)] == 2
            assert d.dispatched == 1  # "a" waits in the hand-over; "b" waits behind it
            first, second = await receive.receive(), await receive.receive()
            assert [first.key, second.key] == ["a", "b"]
            assert first.lease_owner == second.lease_owner == "test/scanner"
            assert d.dispatched == 2
            nursery.cancel_scope.cancel()


async def test_a_crash_after_another_process_settled_the_job_changes_nothing(
    tmp_path: Path, autojump_clock
) -> None:
    async with running(tmp_path) as (h, d):
        send, receive = trio.open_memory_channel[Job](2)
        d.register("scanner", ["scan"], send)
        other = SqliteJobStore.open(tmp_path / "q.db")  # another process: no commit note here
        async with trio.open_nursery() as nursery:
            nursery.start_soon(d.run)
            (a,) = await h.queue.enqueue([NewJob("scan", "a")])
            job = await receive.receive()
            other.apply([Complete(job.id, "test/scanner")], virtual_now(), POLICY)
            assert d.in_flight("scanner") == 1  # the dispatcher has not heard of it
            d.on_event(ActorExited("scanner", ExitReason.ERROR, RuntimeError("late crash")))
            await trio.sleep(1)
            settled = await h.queue.get(a.id)
            assert settled is not None and settled.status is JobStatus.DONE
            assert settled.last_error is None and settled.attempts == 1
            assert d.in_flight("scanner") == 0
            await h.queue.enqueue([NewJob("scan", "b")])  # and it keeps dispatching
            assert (await receive.receive()).key == "b"
            nursery.cancel_scope.cancel()
        other.close()

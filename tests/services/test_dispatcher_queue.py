"""Dispatcher over a real SQLite queue, in virtual time: wake-ups, back-pressure, crashes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from actors import ActorContext, ChildSpec, SupervisorSpec, open_supervisor
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import Job, JobStatus, NewJob, QueuePolicy
from finagent.ports.queue import Enqueue
from finagent.services.dispatcher import Dispatcher
from tests.contract.backends import QueueHarness, open_sqlite_harness, virtual_now

POLICY = QueuePolicy(lease_s=30.0, max_attempts=3, retry_base_s=1.0, retry_max_s=4.0)


@asynccontextmanager
async def running(tmp_path: Path, **kw: Any) -> AsyncIterator[tuple[QueueHarness, Dispatcher]]:
    async with open_sqlite_harness(tmp_path / "q.db", POLICY) as h:
        dispatcher = Dispatcher(h.queue, virtual_now, node="test", **kw)
        h.writer.listen(dispatcher.on_commit)
        yield h, dispatcher


async def test_an_enqueue_wakes_the_dispatcher_at_once(tmp_path: Path, autojump_clock) -> None:
    async with running(tmp_path) as (h, d):
        send, receive = trio.open_memory_channel[Job](4)
        d.register("scanner", ["scan"], send)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(d.run)
            await trio.sleep(100)  # idle long enough for the poll to back off to its max
            t0 = trio.current_time()
            await h.queue.enqueue([NewJob("scan", "a")])
            job = await receive.receive()
            assert trio.current_time() == t0
            assert job.key == "a" and job.lease_owner == "test/scanner"
            nursery.cancel_scope.cancel()


async def test_a_delayed_job_is_delivered_at_its_run_at(tmp_path: Path, autojump_clock) -> None:
    async with running(tmp_path, poll_s=0.25, poll_max_s=60.0) as (h, d):
        send, receive = trio.open_memory_channel[Job](4)
        d.register("scanner", ["scan"], send)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(d.run)
            t0 = trio.current_time()
            await h.queue.enqueue([NewJob("scan", "later", run_at=virtual_now() + 37.5)])
            await receive.receive()
            assert trio.current_time() - t0 == pytest.approx(37.5)
            nursery.cancel_scope.cancel()


async def test_jobs_from_another_writer_arrive_by_the_fallback_poll(
    tmp_path: Path, autojump_clock
) -> None:
    async with running(tmp_path, poll_s=0.25, poll_max_s=2.0) as (_, d):
        send, receive = trio.open_memory_channel[Job](4)
        d.register("scanner", ["scan"], send)
        other = SqliteJobStore.open(tmp_path / "q.db")  # a second process, in effect
        async with trio.open_nursery() as nursery:
            nursery.start_soon(d.run)
            await trio.sleep(60)
            t0 = trio.current_time()
            other.apply([Enqueue([NewJob("scan", "foreign")])], virtual_now(), POLICY)
            job = await receive.receive()
            assert job.key == "foreign"
            assert 0 < trio.current_time() - t0 <= 2.0
            nursery.cancel_scope.cancel()
        other.close()


async def test_it_never_claims_more_than_the_mailbox_takes(tmp_path: Path, autojump_clock) -> None:
    async with running(tmp_path) as (h, d):
        send, receive = trio.open_memory_channel[Job](3)
        owner = d.register("scanner", ["scan"], send)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(d.run)
            await h.queue.enqueue([NewJob("scan", f"k{i}") for i in range(10)])
            await trio.sleep(5)
            stats = await h.queue.stats()
            assert stats.counts[("scan", JobStatus.RUNNING)] == 3
            assert d.in_flight("scanner") == 3
            job = receive.receive_nowait()
            await h.queue.complete(job.id, owner)
            await trio.sleep(1)
            assert (await h.queue.stats()).counts[("scan", JobStatus.RUNNING)] == 3
            nursery.cancel_scope.cancel()


async def test_invalid_payload_goes_dead_and_others_flow(tmp_path: Path, autojump_clock) -> None:
    def validate(job: Job) -> None:
        if not isinstance(job.payload.get("symbol"), str):
            raise ValueError("symbol must be a string")

    async with running(tmp_path) as (h, d):
        send, receive = trio.open_memory_channel[Job](4)
        d.register("scanner", ["scan"], send, validate=validate)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(d.run)
            bad, good = await h.queue.enqueue(
                [NewJob("scan", "bad", {"symbol": 1}), NewJob("scan", "good", {"symbol": "X"})]
            )
            assert (await receive.receive()).id == good.id
            dead = await h.queue.get(bad.id)
            assert dead is not None and dead.status is JobStatus.DEAD and dead.attempts == 1
            assert dead.last_error == "invalid payload: ValueError: symbol must be a string"
            assert d.rejected == 1
            nursery.cancel_scope.cancel()


async def test_duplicate_routes_are_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, d):
        send, _receive = trio.open_memory_channel[Job](1)
        d.register("a", ["scan"], send)
        with pytest.raises(ValueError, match="already routed"):
            d.register("b", ["scan", "plan"], send)


async def test_a_poison_job_ends_dead_and_other_jobs_keep_flowing(
    tmp_path: Path, autojump_clock
) -> None:
    done: list[str] = []

    async with running(tmp_path) as (h, d):

        async def worker(ctx: ActorContext[Job]) -> None:
            ctx.started()
            async for job in ctx.inbox:
                if job.payload.get("poison"):
                    raise RuntimeError(f"cannot digest {job.key}")
                assert job.lease_owner is not None
                await h.queue.complete(job.id, job.lease_owner)
                done.append(job.key)

        spec = SupervisorSpec(
            "services", [ChildSpec("worker", worker, mailbox_size=2)], max_restarts=100
        )
        async with open_supervisor(spec, d) as sup, trio.open_nursery() as nursery:
            d.register("worker", ["work"], sup.mailbox("worker"))
            nursery.start_soon(d.run)
            jobs = [NewJob("work", "poison", {"poison": True})]
            jobs += [NewJob("work", f"ok{i}") for i in range(8)]
            (poison, *_) = await h.queue.enqueue(jobs)
            await trio.sleep(60)
            final = await h.queue.get(poison.id)
            assert final is not None and final.status is JobStatus.DEAD
            assert final.attempts == POLICY.max_attempts
            assert final.last_error is not None
            assert "Traceback" in final.last_error and "cannot digest poison" in final.last_error
            assert sorted(done) == sorted(f"ok{i}" for i in range(8))
            stats = await h.queue.stats()
            assert stats.counts == {("work", JobStatus.DONE): 8, ("work", JobStatus.DEAD): 1}
            nursery.cancel_scope.cancel()


async def test_events_for_unrouted_actors_are_ignored(tmp_path: Path, autojump_clock) -> None:
    from actors import ActorExited, ActorStarted, ExitReason

    async with running(tmp_path) as (h, d):
        send, _receive = trio.open_memory_channel[Job](2)
        d.register("scanner", ["scan"], send)
        d.on_event(ActorStarted("scanner"))
        d.on_event(ActorExited("someone-else", ExitReason.ERROR, RuntimeError("x")))
        d.on_event(ActorExited("scanner", ExitReason.ERROR, None))  # nothing in flight
        async with trio.open_nursery() as nursery:
            nursery.start_soon(d.run)
            await trio.sleep(1)
            assert d.in_flight("scanner") == 0
            await h.queue.enqueue([NewJob("scan", "a")])
            await trio.sleep(1)
            assert d.in_flight("scanner") == 1
            nursery.cancel_scope.cancel()

"""NotifyingQueue's notes on a real SQLite queue, and the dispatcher actor across a restart."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import trio

from actors import ActorContext, ChildSpec, SupervisorSpec, open_supervisor
from finagent.domain.jobs import Job, JobStatus, NewJob, QueuePolicy
from finagent.services.dispatcher import Dispatcher
from finagent.services.persistence import CommitNote
from finagent.services.routing import NotifyingQueue, dispatcher_actor
from tests.contract.backends import open_sqlite_harness, virtual_now

POLICY = QueuePolicy(lease_s=30.0, max_attempts=3, retry_base_s=1.0, retry_max_s=4.0)


async def test_a_failed_job_is_noted_as_settled_and_as_new_work(
    tmp_path: Path, autojump_clock
) -> None:
    notes: list[CommitNote] = []
    async with open_sqlite_harness(tmp_path / "q.db", POLICY) as h:
        queue = NotifyingQueue(h.queue)
        queue.listen(notes.append)
        (job,) = await queue.enqueue([NewJob("scan", "a")])
        assert notes == [CommitNote(True, frozenset())]
        (leased,) = await queue.claim(["scan"], 1, "me")
        after = await queue.fail(leased.id, "me", "feed timeout")
        assert notes[-1] == CommitNote(True, frozenset({job.id}))  # a retry is new work
        assert after.status is JobStatus.PENDING and after.last_error == "feed timeout"
        stored = await h.queue.get(job.id)
        assert stored is not None and stored.status is JobStatus.PENDING


class _ClaimFailsOnce:
    """The harness queue, except that the first claim raises (a dropped connection)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.claims = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def claim(self, types: Collection[str], limit: int, owner: str) -> list[Job]:
        self.claims += 1
        if self.claims == 1:
            raise ConnectionError("queue connection dropped")
        return await self._inner.claim(types, limit, owner)


async def test_a_restarted_dispatcher_actor_keeps_its_routes(
    tmp_path: Path, autojump_clock
) -> None:
    got: list[str] = []
    async with open_sqlite_harness(tmp_path / "q.db", POLICY) as h:
        flaky = _ClaimFailsOnce(h.queue)
        dispatcher = Dispatcher(flaky, virtual_now, node="t")
        h.writer.listen(dispatcher.on_commit)

        async def execution(ctx: ActorContext[Job]) -> None:
            ctx.started()
            async for job in ctx.inbox:
                got.append(job.key)
                await h.queue.complete(job.id, job.lease_owner or "")

        spec = SupervisorSpec(
            "root",
            [
                ChildSpec(
                    "dispatcher", dispatcher_actor(dispatcher, {"flatten": "execution"}, h.queue)
                ),
                ChildSpec("execution", execution, mailbox_size=4),
            ],
            max_restarts=10,
        )
        await h.queue.enqueue([NewJob("flatten", "flatten:a")])
        async with open_supervisor(spec, dispatcher):
            await trio.sleep(30)
        done = await h.queue.stats()
    assert flaky.claims >= 2  # it crashed on the first claim and ran again
    assert got == ["flatten:a"]  # the restart did not register the routes twice (that raises)
    assert done.counts == {("flatten", JobStatus.DONE): 1}


async def test_the_queue_gauges_keep_their_last_values_through_an_outage(
    tmp_path: Path, autojump_clock
) -> None:
    from finagent.observability import Metrics
    from tests.fakes.queue import OutageQueue

    metrics = Metrics("test", process_collectors=False)
    depth = "finagent_queue_depth"
    async with open_sqlite_harness(tmp_path / "q.db", POLICY) as h:
        gauged = OutageQueue(h.queue)
        dispatcher = Dispatcher(h.queue, virtual_now, node="t")
        h.writer.listen(dispatcher.on_commit)
        actor = dispatcher_actor(dispatcher, {}, gauged, metrics, stats_s=1.0)
        spec = SupervisorSpec("root", [ChildSpec("dispatcher", actor)])
        await h.queue.enqueue([NewJob("scan", "a"), NewJob("scan", "b")])
        async with open_supervisor(spec, dispatcher):
            await trio.sleep(1.5)
            assert metrics.registry.get_sample_value(depth, {"status": "pending"}) == 2
            gauged.down = True  # Redis away: stats() refused
            await h.queue.enqueue([NewJob("scan", "c")])
            await trio.sleep(3)
            assert gauged.refused >= 2  # asked on every beat, refused each time
            assert metrics.registry.get_sample_value(depth, {"status": "pending"}) == 2  # kept
            gauged.down = False
            await trio.sleep(1.5)
            assert metrics.registry.get_sample_value(depth, {"status": "pending"}) == 3

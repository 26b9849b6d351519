"""The writer's batches: capped at ``max_batch``, failed when the writer stops before they reach
the thread, and a closed mailbox ends the writer once everything was answered."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import pytest
import trio
import trio.testing

from actors import ActorDeadError
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import JobStatus, NewJob, QueuePolicy, QueueStats
from finagent.ports.queue import Enqueue, Stats, StoreOp
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest
from tests.contract.backends import virtual_now

POLICY = QueuePolicy()


class RecordingStore:
    """A real store that records how many enqueues each transaction carried."""

    def __init__(self, inner: SqliteJobStore) -> None:
        self.inner = inner
        self.enqueues: list[int] = []

    def apply(self, ops: Sequence[StoreOp], now: float, policy: QueuePolicy) -> list[object]:
        self.enqueues.append(sum(isinstance(op, Enqueue) for op in ops))
        return list(self.inner.apply(ops, now, policy))

    def close(self) -> None:
        self.inner.close()


async def test_waiting_requests_are_committed_at_most_max_batch_at_a_time(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    store = RecordingStore(SqliteJobStore.open(tmp_path / "q.db"))
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, virtual_now, inline=True, max_batch=3)
    writer._started = True  # skip start-up recovery: only the test's batches
    queue = PersistentJobQueue(send)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        async with trio.open_nursery() as asking:
            for i in range(7):
                asking.start_soon(queue.enqueue, [NewJob("scan", f"k{i}")])
        assert (await queue.stats()).total(JobStatus.PENDING) == 7
        nursery.cancel_scope.cancel()
    store.close()
    assert store.enqueues[:3] == [3, 3, 1]  # 7 waiting requests: three transactions, not one


class GateStore:
    """A real store whose batches wait on the thread until the test opens the gate."""

    def __init__(self, inner: SqliteJobStore) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()

    def apply(self, ops: Sequence[StoreOp], now: float, policy: QueuePolicy) -> list[object]:
        self.entered.set()
        self.gate.wait(10)
        return list(self.inner.apply(ops, now, policy))

    def close(self) -> None:
        self.inner.close()


async def test_a_batch_waiting_for_the_thread_fails_when_the_writer_stops(tmp_path: Path) -> None:
    store = GateStore(SqliteJobStore.open(tmp_path / "q.db"))
    send, receive = trio.open_memory_channel[WriteRequest](8)
    writer = JobWriter(store, POLICY, virtual_now, inline=False)
    writer._started = True  # skip start-up recovery
    queue = PersistentJobQueue(send)
    got: list[str] = []
    refused: list[BaseException] = []

    async def ask(key: str) -> None:
        try:
            got.extend(j.key for j in await queue.enqueue([NewJob("scan", key)]))
        except ActorDeadError as exc:
            refused.append(exc)

    async def serve(scope: trio.CancelScope) -> None:
        with scope:
            await writer.serve(receive)

    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()
        nursery.start_soon(serve, scope)
        nursery.start_soon(ask, "committing")
        await trio.to_thread.run_sync(store.entered.wait)  # batch 1 is inside the store
        nursery.start_soon(ask, "queued")  # batch 2 takes the second slot on the thread
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(ask, "no-room")  # batch 3 waits for a slot
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()  # the writer stops
        await trio.testing.wait_all_tasks_blocked()
        assert [str(e) for e in refused] == ["job writer stopped"]  # at once, not left hanging
        assert got == []  # the batches on the thread are still running
        store.gate.set()
    assert sorted(got) == ["committing", "queued"]  # handed over: committed and answered
    (stats,) = store.inner.apply([Stats()], 0.0, POLICY)
    assert cast("QueueStats", stats).total(JobStatus.PENDING) == 2  # "no-room" was never written
    store.close()


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "thread"])
async def test_a_closed_mailbox_ends_the_writer_after_answering(
    tmp_path: Path, inline: bool
) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db")
    send, receive = trio.open_memory_channel[WriteRequest](8)
    writer = JobWriter(store, POLICY, virtual_now, inline=inline)
    queue = PersistentJobQueue(send)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        (job,) = await queue.enqueue([NewJob("scan", "a")])
        await send.aclose()  # every sender gone: the writer has nothing left to serve
        with trio.fail_after(10):
            await trio.testing.wait_all_tasks_blocked()
    # the nursery ended by itself: serve() returned, no cancel was needed
    assert writer.batches == 1 and job.key == "a"
    (stored,) = store.apply([Stats()], 0.0, POLICY)
    assert cast("QueueStats", stored).total(JobStatus.PENDING) == 1
    store.close()

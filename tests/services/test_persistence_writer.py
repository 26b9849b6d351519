"""The persistence writer: group commit, isolation of failures, thread vs inline under autojump."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from actors import ActorDeadError, ChildSpec, SupervisorSpec, open_supervisor
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import JobStatus, NewJob, QueueError, QueuePolicy
from finagent.ports.queue import Claim, Enqueue, StoreOp
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest
from tests.contract.backends import open_sqlite_harness, virtual_now

POLICY = QueuePolicy()


class SlowStore:
    """A real store whose every batch also takes real wall time, like a slow disk."""

    def __init__(self, inner: SqliteJobStore, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def apply(self, ops: Sequence[StoreOp], now: float, policy: QueuePolicy) -> list[object]:
        time.sleep(self.delay_s)
        return list(self.inner.apply(ops, now, policy))

    def close(self) -> None:
        self.inner.close()


class BrokenStore:
    """A store whose commit fails (disk full, I/O error)."""

    def apply(self, ops: Sequence[StoreOp], now: float, policy: QueuePolicy) -> list[object]:
        raise OSError("disk I/O error")

    def close(self) -> None:
        pass


async def _time_of_one_enqueue(tmp_path: Path, *, inline: bool) -> float:
    store = SlowStore(SqliteJobStore.open(tmp_path / f"{inline}.db"), delay_s=0.05)
    send, receive = trio.open_memory_channel[WriteRequest](8)
    writer = JobWriter(store, POLICY, virtual_now, inline=inline)
    queue = PersistentJobQueue(send)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        await queue.stats()  # writer started and recovered
        nursery.start_soon(trio.sleep, 1000)  # some other actor's timer
        await trio.lowlevel.checkpoint()
        t0 = trio.current_time()
        await queue.enqueue([NewJob("scan", "a")])
        elapsed = trio.current_time() - t0
        nursery.cancel_scope.cancel()
    store.close()
    return elapsed


async def test_thread_mode_lets_autojump_skip_time_inline_keeps_it_exact(
    tmp_path: Path, autojump_clock
) -> None:
    # trio #456: while SQLite runs on a worker thread every task looks blocked, so the
    # autojump clock leaps to the next deadline. Inline mode (simulation) keeps time exact.
    assert await _time_of_one_enqueue(tmp_path, inline=False) == 1000
    assert await _time_of_one_enqueue(tmp_path, inline=True) == 0


async def test_thread_mode_works_in_real_time(tmp_path: Path) -> None:
    async with open_sqlite_harness(tmp_path / "q.db", POLICY, inline=False) as h:
        async with trio.open_nursery() as nursery:
            for i in range(50):
                nursery.start_soon(h.queue.enqueue, [NewJob("scan", f"k{i}")])
        assert (await h.queue.stats()).total(JobStatus.PENDING) == 50
        assert h.writer.batches < 50  # group commit: many requests per transaction


async def test_waiting_requests_share_one_transaction(tmp_path: Path, autojump_clock) -> None:
    async with open_sqlite_harness(tmp_path / "q.db", POLICY) as h:
        await h.queue.stats()
        before = h.writer.batches
        async with trio.open_nursery() as nursery:
            for i in range(100):
                nursery.start_soon(h.queue.enqueue, [NewJob("scan", f"k{i}")])
        assert h.writer.batches - before == 1
        assert h.writer.requests >= 100


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "thread"])
async def test_a_failed_batch_fails_each_request_and_the_writer_goes_on(inline: bool) -> None:
    send, receive = trio.open_memory_channel[WriteRequest](8)
    writer = JobWriter(BrokenStore(), POLICY, virtual_now, inline=inline)
    writer._started = True  # skip start-up recovery: the store cannot do anything
    queue = PersistentJobQueue(send)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        for _ in range(3):
            with pytest.raises(QueueError, match="disk I/O error"):
                await queue.enqueue([NewJob("scan", "a")])
        nursery.cancel_scope.cancel()


async def test_asking_a_stopped_writer_raises(autojump_clock) -> None:
    send, receive = trio.open_memory_channel[WriteRequest](1)
    receive.close()
    with pytest.raises(ActorDeadError):
        await PersistentJobQueue(send).stats()


class _Stop(BaseException):
    """Something that is not an Exception tears through the writer."""


class StoppingStore:
    def apply(self, ops: Sequence[StoreOp], now: float, policy: QueuePolicy) -> list[object]:
        raise _Stop

    def close(self) -> None:
        pass


async def test_start_recovers_orphaned_leases_once_and_logs_it(
    tmp_path: Path, autojump_clock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "q.db"
    crashed = SqliteJobStore.open(path)  # an earlier process that died holding leases
    crashed.apply([Enqueue([NewJob("scan", "a"), NewJob("scan", "b")])], virtual_now(), POLICY)
    crashed.apply([Claim(["scan"], 2, "old-process")], virtual_now(), POLICY)
    crashed.close()
    caplog.set_level(logging.INFO, logger="finagent.services.persistence")
    store = SqliteJobStore.open(path)
    writer = JobWriter(store, POLICY, virtual_now, inline=True)
    spec = SupervisorSpec("root", [ChildSpec("persistence", writer.run)])
    async with open_supervisor(spec) as sup:
        queue = PersistentJobQueue(sup.mailbox("persistence"))
        stats = await queue.stats()
        assert stats.counts == {("scan", JobStatus.PENDING): 2}
        claimed = await queue.claim(["scan"], 2, "new-process")
        assert [j.attempts for j in claimed] == [2, 2]
    store.close()
    assert "recovered 2 running job(s)" in caplog.text


async def test_housekeeping_recovers_expired_leases_and_prunes(
    tmp_path: Path, autojump_clock
) -> None:
    policy = QueuePolicy(lease_s=10.0)
    async with open_sqlite_harness(tmp_path / "q.db", policy, retain_done_s=100.0) as h:
        q = h.queue
        await q.enqueue([NewJob("scan", "a"), NewJob("scan", "b")])
        a, b = await q.claim(["scan"], 2, "w")
        await q.complete(a.id, "w")
        await trio.sleep(200)
        await q.stats()  # any batch after the interval carries the housekeeping ops
        assert await q.get(a.id) is None
        back = await q.get(b.id)
        assert back is not None and back.status is JobStatus.PENDING


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "thread"])
async def test_a_store_error_that_is_not_an_exception_fails_the_asker_and_stops_the_writer(
    inline: bool,
) -> None:
    send, receive = trio.open_memory_channel[WriteRequest](8)
    writer = JobWriter(StoppingStore(), POLICY, virtual_now, inline=inline)
    writer._started = True  # skip start-up recovery
    queue = PersistentJobQueue(send)
    errors: list[BaseException] = []

    async def ask() -> None:
        try:
            await queue.enqueue([NewJob("scan", "a")])
        except ActorDeadError as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(_Stop):
            await writer.serve(receive)  # the store's error comes out of the writer
    assert len(errors) == 1  # and the asker got an answer instead of hanging


async def test_a_cancelled_asker_still_commits_and_its_late_reply_is_dropped(
    tmp_path: Path, autojump_clock
) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db")
    send, receive = trio.open_memory_channel[WriteRequest](8)
    writer = JobWriter(store, POLICY, virtual_now, inline=True)
    queue = PersistentJobQueue(send)
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as asking:
            asking.start_soon(queue.enqueue, [NewJob("scan", "early")])
            await trio.testing.wait_all_tasks_blocked()  # sent; the writer is not serving yet
            scope.cancel()
    with trio.CancelScope() as mine:
        mine.cancel()
        await queue.enqueue([NewJob("scan", "never-sent")])  # cancelled before sending
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        job = (await queue.enqueue([NewJob("scan", "early")]))[0]
        assert job.id == 1  # the cancelled ask committed once; the re-ask gets the stored job
        stats = await queue.stats()
        assert stats.counts == {("scan", JobStatus.PENDING): 1}  # "never-sent" was not sent
        nursery.cancel_scope.cancel()
    store.close()


async def test_cancelling_the_writer_mid_batch_on_its_thread_still_answers(tmp_path: Path) -> None:
    store = SlowStore(SqliteJobStore.open(tmp_path / "q.db"), delay_s=0.05)
    send, receive = trio.open_memory_channel[WriteRequest](8)
    writer = JobWriter(store, POLICY, virtual_now, inline=False)
    writer._started = True  # skip start-up recovery
    queue = PersistentJobQueue(send)
    keys: list[str] = []

    async def ask() -> None:
        keys.extend(j.key for j in await queue.enqueue([NewJob("scan", "a")]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        scope = trio.CancelScope()
        nursery.start_soon(_serve_in, scope, writer, receive)
        await trio.testing.wait_all_tasks_blocked()  # the batch is on the writer's thread
        scope.cancel()
    store.close()
    assert keys == ["a"]  # the thread call could not be cancelled: it finished and replied


async def _serve_in(
    scope: trio.CancelScope, writer: JobWriter, receive: trio.MemoryReceiveChannel[WriteRequest]
) -> None:
    with scope:
        await writer.serve(receive)


async def test_a_full_mailbox_makes_askers_wait_for_room(tmp_path: Path, autojump_clock) -> None:
    async with open_sqlite_harness(tmp_path / "q.db", POLICY, mailbox=0) as h:
        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(h.queue.enqueue, [NewJob("scan", f"k{i}")])
        assert (await h.queue.stats()).total(JobStatus.PENDING) == 20


class GateStore:
    """A real store whose first batch waits on the thread until the test opens the gate."""

    def __init__(self, inner: SqliteJobStore) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.batches: list[list[str]] = []

    def apply(self, ops: Sequence[StoreOp], now: float, policy: QueuePolicy) -> list[object]:
        self.batches.append([type(op).__name__ for op in ops])
        self.entered.set()
        self.gate.wait()
        return list(self.inner.apply(ops, now, policy))

    def close(self) -> None:
        self.inner.close()


async def test_the_next_batch_goes_to_the_thread_while_one_commits(tmp_path: Path) -> None:
    store = GateStore(SqliteJobStore.open(tmp_path / "q.db"))
    send, receive = trio.open_memory_channel[WriteRequest](8)
    writer = JobWriter(store, POLICY, virtual_now, inline=False)
    writer._started = True  # skip start-up recovery
    queue = PersistentJobQueue(send)
    got: dict[str, int] = {}

    async def ask(key: str) -> None:
        got.update((j.key, j.id) for j in await queue.enqueue([NewJob("scan", key)]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        async with trio.open_nursery() as asking:
            asking.start_soon(ask, "first")
            await trio.to_thread.run_sync(store.entered.wait)  # batch 1 is inside the store
            asking.start_soon(ask, "second")
            await trio.testing.wait_all_tasks_blocked()
            assert send.statistics().current_buffer_used == 0  # batch 2 left the mailbox already
            assert got == {}  # and nobody is answered before its commit
            store.gate.set()
        nursery.cancel_scope.cancel()
    store.close()
    assert got == {"first": 1, "second": 2}  # committed in the order handed over
    assert writer.batches == 2 and len(store.batches) == 2

"""The persistence actor: the single writer of the job store, with group commit.

``JobWriter`` owns the store. Receives ``WriteRequest``. Emits replies and ``CommitNote`` to
listeners (the dispatcher). Restart: permanent. ``PersistentJobQueue``
(:mod:`finagent.services.persistent_queue`, re-exported here) is the ``JobQueue`` and
``QueueAdmin`` the services use: every call is a request to the writer, durable when it returns.

Group commit: the writer takes every request waiting in its mailbox (up to ``max_batch``), applies
them in one transaction (a failing one does not poison the others), commits, then replies to
each. SQLite runs on a dedicated thread (:mod:`finagent.services.writer_thread`), two batches at
most in flight, so the Trio loop never blocks. Under ``MockClock`` autojump a thread call lets
virtual time jump (trio issue #456), so simulations and tests pass ``inline=True``: the store
runs on the loop and virtual time stays exact.

Storage faults (disk full, I/O error, locked past the busy timeout, read-only) are not the
requests' failures: the writer holds the batch, backs off (tenacity, in Trio time) and applies
it again until it commits, while its callers wait as for a slow commit. :class:`StoreHealth`
records the fault so that trading goes ``degraded`` and ``/readyz`` says why; a held batch keeps
its pipeline slot, so new requests queue in the bounded mailbox meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast, final

import outcome
import trio
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from actors import ActorContext, ActorDeadError, Inbox
from finagent.domain.errors import StorageUnavailableError
from finagent.domain.jobs import QueueError
from finagent.ports.queue import (
    Complete,
    Enqueue,
    Fail,
    JobStore,
    Prune,
    Recover,
    Requeue,
    StoreOp,
)
from finagent.services.persistent_queue import PersistentJobQueue, WriteRequest
from finagent.services.store_health import StoreHealth
from finagent.services.writer_thread import StoreThread

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from finagent.domain.jobs import QueuePolicy

__all__ = [
    "RETRY_MAX_S",
    "RETRY_MIN_S",
    "CommitNote",
    "JobWriter",
    "PersistentJobQueue",
    "StoreHealth",
    "WriteRequest",
]

log = logging.getLogger(__name__)

_DEPTH = 2  # batches on the writer's thread at once: one committing, one waiting its turn
RETRY_MIN_S = 0.1
"""First wait before a batch held by a storage fault is applied again (doubling from here)."""
RETRY_MAX_S = 5.0
"""Longest wait between two tries: the store is back in use at most this long after the fault."""


@dataclass(frozen=True, slots=True)
class CommitNote:
    """What a committed batch changed: new due work, and jobs whose lease ended."""

    new_work: bool
    settled: frozenset[int]


def _note(ops: Sequence[StoreOp], results: Sequence[object]) -> CommitNote:
    new_work = False
    settled: set[int] = set()
    for op, result in zip(ops, results, strict=True):
        if isinstance(result, Exception):
            continue
        match op:
            case Enqueue():
                new_work = True
            case Complete(job_id=job_id):
                settled.add(job_id)
                new_work = new_work or bool(result)
            case Fail(job_id=job_id) | Requeue(job_id=job_id):
                settled.add(job_id)
                new_work = True
            case Recover():
                ids = cast("list[int]", result)
                settled.update(ids)
                new_work = new_work or bool(ids)
            case _:
                pass
    return CommitNote(new_work, frozenset(settled))


def _rank(request: WriteRequest) -> int:
    """Completes, then enqueues, then the rest: like requests side by side form runs.

    Reordering a batch is safe: every request in it was sent before the batch started and is
    answered after it commits, so the requests are concurrent and any order is a valid one (a
    caller has one request in flight at a time). Runs of like requests are applied in a few
    statements (``SqliteJobStore``), and claims then see the work the batch added.
    """
    op = request.op
    return 0 if isinstance(op, Complete) else 1 if isinstance(op, Enqueue) else 2


@final
class JobWriter:
    """Owns the job store: the only writer. Receives WriteRequest. Restart: permanent.

    Args:
        store: the synchronous store (``SqliteJobStore``).
        policy: lease, attempts and back-off values.
        now: epoch seconds (a virtual clock in simulation).
        inline: run the store on the loop (virtual time) instead of the worker thread.
        max_batch: most requests per transaction.
        retain_done_s: prune done jobs older than this (None: never).
        housekeeping_s: how often expired leases are recovered and done jobs pruned.
    """

    def __init__(
        self,
        store: JobStore,
        policy: QueuePolicy,
        now: Callable[[], float],
        *,
        inline: bool = False,
        max_batch: int = 4096,
        retain_done_s: float | None = None,
        housekeeping_s: float = 5.0,
    ) -> None:
        self._store = store
        self._policy = policy
        self._now = now
        self._inline = inline
        self._max_batch = max_batch
        self._retain_done_s = retain_done_s
        self._housekeeping_s = housekeeping_s
        self._listeners: list[Callable[[CommitNote], None]] = []
        self._started = False
        self._next_housekeeping = 0.0
        self.batches = 0
        self.requests = 0
        self.health = StoreHealth()

    def listen(self, listener: Callable[[CommitNote], None]) -> None:
        """Call ``listener`` (sync, fast) after every committed batch."""
        self._listeners.append(listener)

    async def run(self, ctx: ActorContext[WriteRequest]) -> None:
        """Actor body: recover once per process, declare started, then serve the mailbox."""
        await self.serve(ctx.inbox, ctx.started)

    async def serve(
        self,
        inbox: Inbox[WriteRequest] | trio.MemoryReceiveChannel[WriteRequest],
        ready: Callable[[], None] = lambda: None,
    ) -> None:
        """Group-commit loop over ``inbox``; on first start, orphaned leases go back to pending.

        ``ready`` is called once recovery is done (``ctx.started`` for an actor): from then on
        the store is writable and no lease of an earlier process is left running.
        """
        thread = None if self._inline else StoreThread()
        try:
            if not self._started:
                self._started = True
                ids = cast(
                    "list[int]", (await self._apply_holding([Recover(orphans=True)], thread))[0]
                )
                log.info("recovered %d running job(s) left by an earlier process", len(ids))
            ready()  # also after a restart: recovery is once per process, not per incarnation
            if thread is None:
                async for first in inbox:
                    await self._commit(self._batch(first, inbox))
            else:
                await self._pipeline(inbox, thread)
        finally:
            if thread is not None:
                thread.stop()

    def _batch(
        self,
        first: WriteRequest,
        inbox: Inbox[WriteRequest] | trio.MemoryReceiveChannel[WriteRequest],
    ) -> list[WriteRequest]:
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                batch.append(inbox.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        if len(batch) > 1:
            batch.sort(key=_rank)
        return batch

    async def _pipeline(
        self,
        inbox: Inbox[WriteRequest] | trio.MemoryReceiveChannel[WriteRequest],
        thread: StoreThread,
    ) -> None:
        """Hand batches to the thread without waiting for the previous one to commit.

        Up to ``_DEPTH`` batches are on the thread at once; it commits them in order, and each
        is answered (and announced to listeners) from the loop when its COMMIT returned. While
        one batch commits, the loop answers the one before and gathers the next, so the thread
        and the loop work at the same time instead of taking turns.
        """
        room = trio.Semaphore(_DEPTH)
        fatal: list[BaseException] = []
        async with trio.open_nursery() as held:  # batches held by a storage fault, retrying
            with trio.CancelScope() as scope:
                try:
                    async for first in inbox:
                        batch = self._batch(first, inbox)
                        try:
                            await _take(room)
                        except BaseException:
                            _fail_all(batch, ActorDeadError("job writer stopped"))
                            raise
                        self._submit(thread, batch, (room, fatal, scope, held))
                finally:
                    held.cancel_scope.cancel()  # stopping: a held batch is answered, not retried
                    with trio.CancelScope(shield=True):  # every batch handed over gets answers
                        for _ in range(_DEPTH):
                            await room.acquire()
        if fatal:
            raise fatal[0]

    def _submit(self, thread: StoreThread, batch: list[WriteRequest], flight: _Flight) -> None:
        ops = self._ops(batch)
        room, fatal, scope, held = flight

        def done(result: outcome.Outcome[Any]) -> None:  # on the loop, from the thread
            if isinstance(result, outcome.Error) and isinstance(
                result.error, StorageUnavailableError
            ):  # held, keeping its slot: the pipeline slows down to the retries' pace
                held.start_soon(self._retry, thread, batch, result.error, room)
                return
            room.release()
            try:
                self._settle(batch, ops, result)
            except BaseException as exc:  # not an Exception from the store: the writer stops
                _fail_all(batch, ActorDeadError("job writer stopped"))
                fatal.append(exc)
                scope.cancel()

        thread.submit(self._store.apply, (ops, self._now(), self._policy), done)

    async def _commit(self, batch: list[WriteRequest]) -> None:
        """Inline mode: apply, commit and answer one batch on the loop (virtual time)."""
        ops = self._ops(batch)
        try:
            result = outcome.capture(self._store.apply, ops, self._now(), self._policy)
            if isinstance(result, outcome.Error) and isinstance(
                result.error, StorageUnavailableError
            ):
                ops = ops[: len(batch)]
                result = await outcome.acapture(self._hold, ops, None, result.error)
            self._settle(batch, ops, result)
        finally:
            _fail_all(batch, ActorDeadError("job writer stopped"))  # never leave an asker hanging

    async def _retry(
        self,
        thread: StoreThread,
        batch: list[WriteRequest],
        fault: StorageUnavailableError,
        room: trio.Semaphore,
    ) -> None:
        """Thread mode: a batch hit a storage fault; retry it, then answer it and free its slot."""
        ops = [req.op for req in batch]
        try:
            try:
                result = await outcome.acapture(self._hold, ops, thread, fault)
            finally:
                room.release()
            self._settle(batch, ops, result)
        finally:
            _fail_all(batch, ActorDeadError("job writer stopped"))

    async def _hold(
        self, ops: list[StoreOp], thread: StoreThread | None, fault: StorageUnavailableError
    ) -> list[object | Exception]:
        """Apply ``ops`` again, backing off, until they commit; the callers keep waiting.

        The batch is retried without its housekeeping (``_commit`` and ``_retry`` pass only the
        requests' ops), and housekeeping waits a lease after the fault: leases ran out while the
        store was down through no fault of their holders, whose completions may still be queued.
        """
        health = self.health
        health.hold(fault, self._now(), len(ops))
        committed = False
        try:
            retrying = AsyncRetrying(
                sleep=trio.sleep,
                wait=wait_exponential(multiplier=RETRY_MIN_S, min=RETRY_MIN_S, max=RETRY_MAX_S),
                retry=retry_if_exception_type(StorageUnavailableError),
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number == 1:
                        raise fault  # the try that brought the batch here: wait before the next
                    results = await self._apply(ops, thread)
            committed = True
            self._next_housekeeping = self._now() + self._policy.lease_s
            return results
        finally:
            health.release(self._now(), committed=committed)

    async def _apply_holding(
        self, ops: list[StoreOp], thread: StoreThread | None
    ) -> list[object | Exception]:
        """Apply ``ops`` (start-up recovery); on a storage fault hold them until they commit."""
        try:
            return await self._apply(ops, thread)
        except StorageUnavailableError as fault:
            return await self._hold(ops, thread, fault)

    def _settle(
        self, batch: list[WriteRequest], ops: list[StoreOp], result: outcome.Outcome[Any]
    ) -> None:
        """Answer each request of a finished batch and tell the listeners what changed."""
        if isinstance(result, outcome.Error):
            exc = result.error
            if not isinstance(exc, Exception):
                raise exc
            log.error("job store batch of %d request(s) failed", len(batch), exc_info=exc)
            _fail_all(batch, QueueError(f"store batch failed: {exc}"))
            return
        results = cast("list[object | Exception]", result.unwrap())
        health = self.health
        health.last_commit = trio.current_time()
        if health.fault is not None:
            health.committed(self._now())
        self.batches += 1
        self.requests += len(batch)
        for req, value in zip(batch, results, strict=False):
            if isinstance(value, Exception):
                req.reply_to.fail(value)
            else:
                req.reply_to.reply(value)
        self._notify(_note(ops, results))

    def _ops(self, batch: list[WriteRequest]) -> list[StoreOp]:
        """The batch's operations, then any housekeeping that is due."""
        return [*(req.op for req in batch), *self._housekeeping()]

    def _housekeeping(self) -> list[StoreOp]:
        now = self._now()
        if now < self._next_housekeeping:
            return []
        self._next_housekeeping = now + self._housekeeping_s
        extra: list[StoreOp] = [Recover()]
        if self._retain_done_s is not None:
            extra.append(Prune(self._retain_done_s))
        return extra

    def _notify(self, note: CommitNote) -> None:
        if note.new_work or note.settled:
            for listener in self._listeners:
                listener(note)

    async def _apply(
        self, ops: Sequence[StoreOp], thread: StoreThread | None
    ) -> list[object | Exception]:
        now = self._now()
        if thread is None:
            return self._store.apply(ops, now, self._policy)
        done = await thread.run(self._store.apply, ops, now, self._policy)
        return cast("list[object | Exception]", done)


_Flight = tuple[trio.Semaphore, list[BaseException], trio.CancelScope, trio.Nursery]
"""What a submitted batch reports back to: its slot, fatal errors, the pipeline, held batches."""


async def _take(room: trio.Semaphore) -> None:
    """Take a slot; without a trip through the scheduler when one is free (the common case)."""
    try:
        room.acquire_nowait()
    except trio.WouldBlock:
        await room.acquire()


def _fail_all(batch: list[WriteRequest], exc: BaseException) -> None:
    """Fail every request of ``batch`` that has no answer yet."""
    for req in batch:
        if not req.reply_to.done:
            req.reply_to.fail(exc)

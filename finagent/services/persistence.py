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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast, final

import outcome
import trio

from actors import ActorContext, ActorDeadError, Inbox
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
from finagent.services.writer_thread import StoreThread

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from finagent.domain.jobs import QueuePolicy

__all__ = [
    "CommitNote",
    "JobWriter",
    "PersistentJobQueue",
    "WriteRequest",
]

log = logging.getLogger(__name__)

_DEPTH = 2  # batches on the writer's thread at once: one committing, one waiting its turn


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
                ids = cast("list[int]", (await self._apply([Recover(orphans=True)], thread))[0])
                log.info("recovered %d running job(s) left by an earlier process", len(ids))
            ready()  # also after a restart: recovery is once per process, not per incarnation
            if thread is None:
                async for first in inbox:
                    self._commit(self._batch(first, inbox))
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
        with trio.CancelScope() as scope:
            try:
                async for first in inbox:
                    batch = self._batch(first, inbox)
                    try:
                        await _take(room)
                    except BaseException:
                        _fail_all(batch, ActorDeadError("job writer stopped"))
                        raise
                    self._submit(thread, batch, room, fatal, scope)
            finally:
                with trio.CancelScope(shield=True):  # every batch handed over gets its answers
                    for _ in range(_DEPTH):
                        await room.acquire()
        if fatal:
            raise fatal[0]

    def _submit(
        self,
        thread: StoreThread,
        batch: list[WriteRequest],
        room: trio.Semaphore,
        fatal: list[BaseException],
        scope: trio.CancelScope,
    ) -> None:
        ops = self._ops(batch)

        def done(result: outcome.Outcome[Any]) -> None:  # on the loop, from the thread
            room.release()
            try:
                self._settle(batch, ops, result)
            except BaseException as exc:  # not an Exception from the store: the writer stops
                _fail_all(batch, ActorDeadError("job writer stopped"))
                fatal.append(exc)
                scope.cancel()

        thread.submit(self._store.apply, (ops, self._now(), self._policy), done)

    def _commit(self, batch: list[WriteRequest]) -> None:
        """Inline mode: apply, commit and answer one batch on the loop (virtual time)."""
        ops = self._ops(batch)
        try:
            self._settle(
                batch, ops, outcome.capture(self._store.apply, ops, self._now(), self._policy)
            )
        finally:
            _fail_all(batch, ActorDeadError("job writer stopped"))  # never leave an asker hanging

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

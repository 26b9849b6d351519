"""The dispatcher as an actor of the daemon: routes, Trio-time wake-ups and queue gauges.

:func:`dispatcher_actor` wraps helper-2's :class:`~finagent.services.dispatcher.Dispatcher`:
at its first start it registers every stage's mailbox (``ctx.peer``) for the stage's job types
(:data:`ROUTES`, the one route table) with :func:`check_payload` as the payload check (a bad
payload goes to ``dead`` before any stage sees it); it stops at once when the supervisor asks,
and refreshes the queue gauges every ``stats_s``. Restart: permanent (routes and in-flight
jobs are kept).

:func:`trio_time_queue` lets the dispatcher sleep in Trio seconds while job times are virtual:
under ``finagent up --speed N`` one Trio second is N virtual seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, final

import trio
from trio_util import periodic

from finagent.domain.job_types import JobType, decode_payload
from finagent.domain.jobs import LeaseLostError, QueueUnavailableError
from finagent.services.forwarding import ForwardingQueue
from finagent.services.persistence import CommitNote

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence

    from actors import ActorContext
    from finagent.domain.jobs import Job, NewJob
    from finagent.observability import Metrics
    from finagent.ports.queue import DispatchQueue
    from finagent.services.dispatcher import Dispatcher

__all__ = [
    "ROUTES",
    "NotifyingQueue",
    "check_payload",
    "dispatcher_actor",
    "trio_time_queue",
]

# A hair late: float rounding must not wake the dispatcher just before run_at (a busy loop).
_EPSILON_S = 0.001


#: The one route table: job type -> the stage actor that handles it (every type has one).
ROUTES: Final[Mapping[JobType, str]] = {
    JobType.SCAN: "scanner",
    JobType.SCORE: "scoring",
    JobType.PLAN: "planner",
    JobType.RISK: "risk",
    JobType.EXECUTE: "execution",
    JobType.TIME_STOP: "execution",
    JobType.FLATTEN: "execution",
    JobType.REPORT: "reporter",
    JobType.NOTIFY: "notifier",
}


@final
class NotifyingQueue(ForwardingQueue):
    """A queue that tells listeners what this process changed (the writer's commit notes).

    The SQLite writer notes every commit; a shared Redis queue has no writer in this process,
    so this wrapper notes each call that returned: an enqueue or outputs are new work, a
    complete/fail (or a lease found lost) settles the job. The dispatcher then frees the
    route's slot and claims again at once, instead of at its next poll.
    """

    def __init__(self, inner: DispatchQueue) -> None:
        super().__init__(inner)
        self._listeners: list[Callable[[CommitNote], None]] = []

    def listen(self, listener: Callable[[CommitNote], None]) -> None:
        """Call ``listener`` after each change this process made."""
        self._listeners.append(listener)

    def _note(self, new_work: bool, settled: frozenset[int] = frozenset()) -> None:
        note = CommitNote(new_work, settled)
        for listener in self._listeners:
            listener(note)

    async def enqueue(self, jobs: Sequence[NewJob], *, parent_id: int | None = None) -> list[Job]:
        """Store new jobs."""
        out = await self._inner.enqueue(jobs, parent_id=parent_id)
        self._note(bool(out))
        return out

    async def complete(self, job_id: int, owner: str, outputs: Sequence[NewJob] = ()) -> list[Job]:
        """Mark done with outputs."""
        try:
            out = await self._inner.complete(job_id, owner, outputs)
        except LeaseLostError:
            self._note(False, frozenset({job_id}))
            raise
        self._note(bool(out), frozenset({job_id}))
        return out

    async def fail(self, job_id: int, owner: str, error: str, *, retryable: bool = True) -> Job:
        """Retry with back-off, or dead."""
        try:
            job = await self._inner.fail(job_id, owner, error, retryable=retryable)
        except LeaseLostError:
            self._note(False, frozenset({job_id}))
            raise
        self._note(True, frozenset({job_id}))
        return job


def check_payload(job: Job) -> None:
    """The dispatcher's validation hook: the payload must decode as the job's type."""
    decode_payload(job.type, job.payload)


@final
class _TrioTimeQueue(ForwardingQueue):
    """The job queue as the dispatcher sees it: ``next_due`` in Trio time."""

    def __init__(self, queue: DispatchQueue, deadline: Callable[[datetime], float]) -> None:
        super().__init__(queue)
        self._deadline = deadline

    async def next_due(self, types: Collection[str]) -> float | None:
        """The Trio time at which the next delayed job of ``types`` falls due."""
        due = await self._inner.next_due(types)
        if due is None:
            return None
        return self._deadline(datetime.fromtimestamp(due, UTC)) + _EPSILON_S


def trio_time_queue(queue: DispatchQueue, deadline: Callable[[datetime], float]) -> _TrioTimeQueue:
    """``queue`` with ``next_due`` mapped through ``deadline`` (``VirtualClock.trio_deadline``)."""
    return _TrioTimeQueue(queue, deadline)


def actor_types(routes: Mapping[JobType, str]) -> dict[str, list[JobType]]:
    """Job type -> actor becomes actor -> its job types."""
    by_actor: dict[str, list[JobType]] = {}
    for job_type, actor in routes.items():
        by_actor.setdefault(actor, []).append(job_type)
    return by_actor


def dispatcher_actor(
    dispatcher: Dispatcher,
    routes: Mapping[JobType, str],
    queue: DispatchQueue,
    metrics: Metrics | None = None,
    *,
    stats_s: float = 15.0,
) -> Callable[[ActorContext[object]], Coroutine[Any, Any, None]]:
    """The ``ChildSpec`` factory running ``dispatcher`` with the stages' mailboxes."""
    registered = False

    async def gauges() -> None:
        assert metrics is not None
        async for _ in periodic(stats_s):
            try:
                metrics.update_queue_gauges(await queue.stats())
            except QueueUnavailableError:  # the gauges keep their last values until it is back
                continue

    async def loops() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(dispatcher.run)
            if metrics is not None:
                nursery.start_soon(gauges)

    async def run(ctx: ActorContext[object]) -> None:
        nonlocal registered
        if not registered:
            for actor, types in actor_types(routes).items():
                dispatcher.register(actor, types, ctx.peer(actor), validate=check_payload)
            registered = True
        ctx.started()  # every stage's mailbox is registered: the claim loop can deliver
        await ctx.background(loops)

    return run

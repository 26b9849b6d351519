"""The job pump: claims due jobs and hands each to the mailbox of the stage for its type.

Owns the claim loop (lease owner ``pump``). Receives nothing. Sends ``Job`` to the stage
actors; a full mailbox makes it wait (backpressure). It wakes on every commit that added work
(``JobWriter.listen``), at the next delayed job's ``run_at``, and every ``poll_s`` as a
fallback. A stand-in for the queue helper's dispatcher until that lands. Restart: permanent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from actors import ActorContext
    from finagent.observability import Metrics
    from finagent.ports.clock import Clock
    from finagent.services.persistence import CommitNote, PersistentJobQueue

__all__ = ["JobPump"]

log = logging.getLogger(__name__)

_EPSILON_S = 0.001


@final
class JobPump:
    """Routes due jobs by type to actor names. Receives nothing. Restart: permanent."""

    def __init__(
        self,
        queue: PersistentJobQueue,
        routes: Mapping[str, str],
        clock: Clock,
        *,
        owner: str = "pump",
        batch: int = 64,
        poll_s: float = 0.25,
        stats_s: float = 15.0,
        metrics: Metrics | None = None,
        deadline: Callable[[datetime], float] | None = None,
    ) -> None:
        self._queue = queue
        self._routes = dict(routes)
        self._types = tuple(sorted(self._routes))
        self._clock = clock
        self._owner = owner
        self._batch = batch
        self._poll_s = poll_s
        self._stats_s = stats_s
        self._metrics = metrics
        self._deadline = deadline
        self._wake = trio.Event()
        self.delivered = 0

    def on_commit(self, note: CommitNote) -> None:
        """JobWriter listener: a commit added due work, claim again."""
        if note.new_work:
            self._wake.set()

    async def run(self, ctx: ActorContext[object]) -> None:
        """Claim and deliver until the supervisor asks to stop."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._loop, ctx)
            await ctx.stopping.wait()
            nursery.cancel_scope.cancel()

    async def _loop(self, ctx: ActorContext[object]) -> None:
        next_stats = 0.0
        while True:
            self._wake = trio.Event()
            jobs = await self._queue.claim(self._types, self._batch, self._owner)
            for job in jobs:
                await ctx.send(self._routes[job.type], job)
                self.delivered += 1
            if self._metrics is not None and trio.current_time() >= next_stats:
                next_stats = trio.current_time() + self._stats_s
                self._metrics.update_queue_gauges(await self._queue.stats())
            if len(jobs) == self._batch:
                continue
            await self._sleep(await self._queue.next_due(self._types))

    async def _sleep(self, next_due: float | None) -> None:
        now = trio.current_time()
        until = now + self._poll_s
        if next_due is not None and self._deadline is not None:
            due = self._deadline(datetime.fromtimestamp(next_due, UTC))
            # A hair late: float rounding must not wake us just before run_at (a busy loop).
            until = min(until, max(due, now) + _EPSILON_S)
        elif next_due is not None:
            until = min(until, now + max(0.0, next_due - self._clock.timestamp()) + _EPSILON_S)
        with trio.move_on_at(until):
            await self._wake.wait()

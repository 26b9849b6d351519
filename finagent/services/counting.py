"""``CountingQueue``: the job queue every part of the daemon shares, counting new jobs.

The scheduler's firings, the operator's flatten (``finagent halt``) and every stage's outputs
all pass through this one wrapper, so ``finagent_jobs_enqueued_total`` sees them all, once.
An enqueue of a key the queue already holds returns the stored job; that is not a new job and
is not counted. A returned job is new when it was created during this call (its ``created_at``
is not before the call began) and its id is above every id this wrapper has seen: ids only grow
in both queues (SQLite keeps an id floor, Redis an INCR counter), and the second test tells a
re-enqueue at the same virtual instant (a simulation's clock stands still between jumps) from a
new job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from finagent.services.forwarding import ForwardingQueue

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from finagent.domain.jobs import Job, NewJob
    from finagent.ports.queue import DispatchQueue

__all__ = ["CountingQueue"]


@final
class CountingQueue(ForwardingQueue):
    """A DispatchQueue that calls ``count(job_type)`` once for every new job stored."""

    def __init__(
        self, inner: DispatchQueue, count: Callable[[str], None], now: Callable[[], float]
    ) -> None:
        super().__init__(inner)
        self._count = count
        self._now = now
        self._highest = 0

    def _seen(self, began: float, jobs: Sequence[Job]) -> list[Job]:
        for job in jobs:
            if job.id > self._highest and job.created_at >= began:
                self._count(job.type)
            self._highest = max(self._highest, job.id)
        return list(jobs)

    async def enqueue(self, jobs: Sequence[NewJob], *, parent_id: int | None = None) -> list[Job]:
        """Store new jobs (a known key returns the stored job, uncounted)."""
        began = self._now()
        return self._seen(began, await self._inner.enqueue(jobs, parent_id=parent_id))

    async def complete(self, job_id: int, owner: str, outputs: Sequence[NewJob] = ()) -> list[Job]:
        """Mark done; the outputs are enqueued (and counted) with it."""
        began = self._now()
        return self._seen(began, await self._inner.complete(job_id, owner, outputs))

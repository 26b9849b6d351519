"""``ForwardingQueue``: a DispatchQueue that passes every call to the queue it wraps.

The queue's decorators (counting new jobs, noting commits, mapping ``next_due`` to Trio time)
subclass it and override only the calls they change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from finagent.domain.jobs import Job, NewJob, QueueStats
    from finagent.ports.queue import DispatchQueue

__all__ = ["ForwardingQueue"]


class ForwardingQueue:
    """Every DispatchQueue call, passed to ``inner`` as it is."""

    def __init__(self, inner: DispatchQueue) -> None:
        self._inner = inner

    async def enqueue(self, jobs: Sequence[NewJob], *, parent_id: int | None = None) -> list[Job]:
        """Store new jobs (a known key returns the stored job)."""
        return await self._inner.enqueue(jobs, parent_id=parent_id)

    async def claim(self, types: Collection[str], limit: int, owner: str) -> list[Job]:
        """Lease due jobs."""
        return await self._inner.claim(types, limit, owner)

    async def complete(self, job_id: int, owner: str, outputs: Sequence[NewJob] = ()) -> list[Job]:
        """Mark done with outputs."""
        return await self._inner.complete(job_id, owner, outputs)

    async def fail(self, job_id: int, owner: str, error: str, *, retryable: bool = True) -> Job:
        """Retry with back-off, or dead."""
        return await self._inner.fail(job_id, owner, error, retryable=retryable)

    async def extend(self, job_id: int, owner: str) -> bool:
        """Renew a lease."""
        return await self._inner.extend(job_id, owner)

    async def next_due(self, types: Collection[str]) -> float | None:
        """Earliest run_at among pending jobs of ``types``."""
        return await self._inner.next_due(types)

    async def stats(self) -> QueueStats:
        """Counts by type and status."""
        return await self._inner.stats()

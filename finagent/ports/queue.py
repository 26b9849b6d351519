"""The JobQueue port: a durable queue with leases, retries and dead letters.

Backends (SQLite through the persistence actor, Redis Streams) pass one contract suite.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from finagent.domain.jobs import Job, NewJob, QueueStats

__all__ = ["JobQueue", "QueueAdmin"]


class JobQueue(Protocol):
    """Producer/consumer side of the durable queue. Every call is durable when it returns."""

    async def enqueue(self, jobs: Sequence[NewJob], *, parent_id: int | None = None) -> list[Job]:
        """Store new jobs; a key that exists returns the existing job, never a duplicate."""
        ...

    async def claim(self, types: Collection[str], limit: int, owner: str) -> list[Job]:
        """Lease up to ``limit`` due pending jobs of ``types`` to ``owner``."""
        ...

    async def complete(self, job_id: int, owner: str, outputs: Sequence[NewJob] = ()) -> list[Job]:
        """Mark a leased job done and enqueue its outputs in one atomic step; returns outputs."""
        ...

    async def fail(self, job_id: int, owner: str, error: str, *, retryable: bool = True) -> Job:
        """Record a failure: back to pending with back-off, or dead past max_attempts."""
        ...

    async def extend(self, job_id: int, owner: str) -> bool:
        """Renew the lease; False if the lease was lost."""
        ...


class QueueAdmin(Protocol):
    """Operator side of the queue: recovery, inspection and retention."""

    async def requeue(self, job_id: int) -> Job | None:
        """Move a dead (or stuck) job back to pending with its attempts reset."""
        ...

    async def recover(self) -> int:
        """Return running jobs whose lease expired to pending; returns how many."""
        ...

    async def stats(self) -> QueueStats:
        """Counts by type and status and the oldest pending age."""
        ...

    async def prune(self, older_than_s: float) -> int:
        """Delete done jobs finished more than ``older_than_s`` ago; returns how many."""
        ...

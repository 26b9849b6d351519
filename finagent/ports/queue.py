"""The JobQueue port: a durable queue with leases, retries and dead letters.

Backends (SQLite through the persistence actor, Redis Streams) pass one contract suite.
``JobStore`` is the narrower, synchronous port of the single-writer SQLite design: the
persistence actor hands it a batch of :data:`StoreOp` and it applies them in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from finagent.domain.jobs import Job, NewJob, QueuePolicy, QueueStats

__all__ = [
    "Claim",
    "Complete",
    "DispatchQueue",
    "Enqueue",
    "Extend",
    "Fail",
    "GetJob",
    "JobQueue",
    "JobStore",
    "NextDue",
    "Prune",
    "QueueAdmin",
    "Recover",
    "Requeue",
    "Stats",
    "StoreOp",
]


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


class DispatchQueue(JobQueue, Protocol):
    """The queue the daemon's parts share: the JobQueue port, ``next_due`` and ``stats``.

    The dispatcher sleeps until ``next_due``; the routing actor refreshes the gauges from
    ``stats``. One protocol for both, so every view of the queue (the notifying wrapper, the
    Trio-time view) fits wherever the queue goes.
    """

    async def next_due(self, types: Collection[str]) -> float | None:
        """Earliest run_at (epoch seconds) among pending jobs of ``types``."""
        ...

    async def stats(self) -> QueueStats:
        """Counts by type and status."""
        ...


class QueueAdmin(Protocol):
    """Operator side of the queue: recovery, inspection and retention."""

    async def requeue(self, job_id: int) -> Job | None:
        """Move a dead (or stuck running) job back to pending with its attempts reset."""
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

    async def get(self, job_id: int) -> Job | None:
        """One job by id, or None."""
        ...


# --- operations the single writer applies (one frozen dataclass per JobQueue/QueueAdmin call)


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Insert jobs (existing keys return the stored job). Result: ``list[Job]``."""

    jobs: Sequence[NewJob]
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """Lease due pending jobs. Result: ``list[Job]``."""

    types: Collection[str]
    limit: int
    owner: str


@dataclass(frozen=True, slots=True)
class Complete:
    """Finish a leased job and insert its outputs. Result: ``list[Job]`` (the outputs)."""

    job_id: int
    owner: str
    outputs: Sequence[NewJob] = ()


@dataclass(frozen=True, slots=True)
class Fail:
    """Fail a leased job: retry with back-off or dead. Result: ``Job``."""

    job_id: int
    owner: str
    error: str
    retryable: bool = True


@dataclass(frozen=True, slots=True)
class Extend:
    """Renew a lease. Result: ``bool``."""

    job_id: int
    owner: str


@dataclass(frozen=True, slots=True)
class Requeue:
    """Dead or running job back to pending, attempts reset. Result: ``Job | None``."""

    job_id: int


@dataclass(frozen=True, slots=True)
class Recover:
    """Expired leases back to pending (dead if out of attempts). Result: ``list[int]`` ids.

    ``orphans`` recovers every running job, expired or not: the single-writer daemon uses it
    on start, when no lease holder from an earlier process can still be alive.
    """

    orphans: bool = False


@dataclass(frozen=True, slots=True)
class Prune:
    """Delete done jobs older than ``older_than_s``. Result: ``int``."""

    older_than_s: float


@dataclass(frozen=True, slots=True)
class Stats:
    """Read counts. Result: ``QueueStats``."""


@dataclass(frozen=True, slots=True)
class GetJob:
    """Read one job. Result: ``Job | None``."""

    job_id: int


@dataclass(frozen=True, slots=True)
class NextDue:
    """Earliest ``run_at`` of pending jobs of ``types``. Result: ``float | None``."""

    types: Collection[str]


StoreOp = (
    Enqueue
    | Claim
    | Complete
    | Fail
    | Extend
    | Requeue
    | Recover
    | Prune
    | Stats
    | GetJob
    | NextDue
)


class JobStore(Protocol):
    """A synchronous store used from one thread at a time by the single writer."""

    def apply(
        self, ops: Sequence[StoreOp], now: float, policy: QueuePolicy
    ) -> list[object | Exception]:
        """Apply ``ops`` in one transaction, one savepoint each; a result or error per op."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...

"""Job values shared by every queue backend: what is enqueued, claimed and finished.

Errors::

    QueueError
    ├── JobNotFoundError   the id names no stored job
    └── LeaseLostError     the caller no longer holds the job's lease
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from finagent.domain.errors import FinagentError

__all__ = [
    "Job",
    "JobNotFoundError",
    "JobStatus",
    "LeaseLostError",
    "NewJob",
    "QueueError",
    "QueuePolicy",
    "QueueStats",
    "QueueUnavailableError",
    "retry_delay",
]

JsonObject = Mapping[str, Any]


class QueueError(FinagentError):
    """A queue request that could not be applied as asked."""


class QueueUnavailableError(QueueError):
    """The queue's backend could not be reached or answered with an error (e.g. Redis)."""


class JobNotFoundError(QueueError):
    """The job id names no stored job."""


class LeaseLostError(QueueError):
    """The job is not running under the caller's lease (expired, recovered or finished)."""


class JobStatus(StrEnum):
    """Where a job is in its life. Every job is in exactly one of these."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to enqueue. ``key`` is its idempotency key: enqueueing it twice yields one job.

    ``run_at`` is epoch seconds (None: due now). ``max_attempts`` None takes the queue default.
    """

    type: str
    key: str
    payload: JsonObject = field(default_factory=dict)
    run_at: float | None = None
    max_attempts: int | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """A stored job. Timestamps are epoch seconds from the queue's clock.

    ``attempts`` counts claims: a job is charged one attempt each time it is leased.
    """

    id: int
    type: str
    key: str
    payload: JsonObject
    status: JobStatus
    attempts: int
    max_attempts: int
    run_at: float
    created_at: float
    updated_at: float
    lease_owner: str | None = None
    lease_until: float | None = None
    finished_at: float | None = None
    last_error: str | None = None
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Counts by (type, status) and the age of the oldest due pending job."""

    counts: Mapping[tuple[str, JobStatus], int]
    oldest_pending_age_s: float | None

    def total(self, status: JobStatus) -> int:
        """Jobs in ``status`` across all types."""
        return sum(n for (_, s), n in self.counts.items() if s is status)


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """Lease length, default attempts and retry back-off shared by every backend."""

    lease_s: float = 30.0
    max_attempts: int = 5
    retry_base_s: float = 1.0
    retry_max_s: float = 60.0

    def __post_init__(self) -> None:
        if self.lease_s <= 0 or self.max_attempts < 1:
            raise ValueError("lease_s must be > 0 and max_attempts >= 1")
        if self.retry_base_s < 0 or self.retry_max_s < 0:
            raise ValueError("retry back-off must be >= 0")


def retry_delay(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential back-off before the next attempt: ``base * 2**(attempts-1)``, capped.

    Args:
        attempts: attempts made so far (>= 1 after the first failure).
        base_s: delay after the first failed attempt.
        max_s: upper bound of the delay.
    """
    exponent = min(max(attempts - 1, 0), 62)
    return float(min(base_s * (2**exponent), max_s))

"""Job values shared by every queue backend: what is enqueued, claimed and finished."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Job", "JobStatus", "NewJob", "QueueStats"]

JsonObject = Mapping[str, Any]


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
    """A stored job. Timestamps are epoch seconds from the queue's clock."""

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

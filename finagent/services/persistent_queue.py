"""``PersistentJobQueue``: the JobQueue port over the job writer's mailbox.

Every call is one ``WriteRequest`` to the single writer (``finagent.services.persistence``),
answered through a one-shot reply slot (``actors.ReplyTo``) after the batch holding it
committed: durable when the call returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast, final

import trio
import trio.lowlevel

from actors import ActorDeadError, ReplyTo
from finagent.ports.queue import (
    Claim,
    Complete,
    Enqueue,
    Extend,
    Fail,
    GetJob,
    NextDue,
    Prune,
    Recover,
    Requeue,
    Stats,
    StoreOp,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from finagent.domain.jobs import Job, NewJob, QueueStats

__all__ = ["PersistentJobQueue", "WriteRequest"]


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """One store operation and where to send its result."""

    op: StoreOp
    reply_to: ReplyTo[Any]


@final
class PersistentJobQueue:
    """The JobQueue and QueueAdmin over the writer's mailbox; durable when each call returns."""

    def __init__(self, mailbox: trio.MemorySendChannel[Any]) -> None:
        self._mailbox = mailbox

    async def _ask(self, op: StoreOp) -> Any:
        await trio.lowlevel.checkpoint_if_cancelled()  # a cancelled caller sends nothing
        # The one-shot slot, not a 1-slot channel per call: the writer wakes this task directly.
        slot: ReplyTo[Any] = ReplyTo()
        request = WriteRequest(op, slot)
        try:
            try:
                self._mailbox.send_nowait(request)
            except trio.WouldBlock:
                await self._mailbox.send(request)  # mailbox full: wait for room (backpressure)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ActorDeadError("job writer is not running") from None
        return await slot.wait()

    async def enqueue(self, jobs: Sequence[NewJob], *, parent_id: int | None = None) -> list[Job]:
        """Store new jobs; a key that exists returns the existing job."""
        return cast("list[Job]", await self._ask(Enqueue(tuple(jobs), parent_id)))

    async def claim(self, types: Collection[str], limit: int, owner: str) -> list[Job]:
        """Lease up to ``limit`` due pending jobs of ``types`` to ``owner``."""
        return cast("list[Job]", await self._ask(Claim(tuple(types), limit, owner)))

    async def complete(self, job_id: int, owner: str, outputs: Sequence[NewJob] = ()) -> list[Job]:
        """Mark done and enqueue outputs atomically; returns the outputs."""
        return cast("list[Job]", await self._ask(Complete(job_id, owner, tuple(outputs))))

    async def fail(self, job_id: int, owner: str, error: str, *, retryable: bool = True) -> Job:
        """Retry with back-off, or dead when out of attempts or not retryable."""
        return cast("Job", await self._ask(Fail(job_id, owner, error, retryable)))

    async def extend(self, job_id: int, owner: str) -> bool:
        """Renew the lease; False if it was lost."""
        return cast("bool", await self._ask(Extend(job_id, owner)))

    async def requeue(self, job_id: int) -> Job | None:
        """Dead or stuck job back to pending, attempts reset."""
        return cast("Job | None", await self._ask(Requeue(job_id)))

    async def recover(self) -> int:
        """Expired leases back to pending; returns how many."""
        return len(cast("list[int]", await self._ask(Recover())))

    async def stats(self) -> QueueStats:
        """Counts by type and status, oldest pending age."""
        return cast("QueueStats", await self._ask(Stats()))

    async def prune(self, older_than_s: float) -> int:
        """Delete done jobs older than ``older_than_s``."""
        return cast("int", await self._ask(Prune(older_than_s)))

    async def get(self, job_id: int) -> Job | None:
        """One job by id."""
        return cast("Job | None", await self._ask(GetJob(job_id)))

    async def next_due(self, types: Collection[str]) -> float | None:
        """Earliest run_at among pending jobs of ``types`` (epoch seconds)."""
        return cast("float | None", await self._ask(NextDue(tuple(types))))

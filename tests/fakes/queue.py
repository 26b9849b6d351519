"""An enqueue-only fake of the JobQueue port: records each enqueue with the clock's time.

Like the real queues, a key it has seen returns the stored job (idempotent enqueue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from finagent.adapters.clocks import VirtualClock
from finagent.domain.jobs import Job, JobStatus, NewJob, QueueUnavailableError

__all__ = ["FakeQueue", "OutageQueue"]


@dataclass
class FakeQueue:
    """Records every enqueue; like the real queues, a known key returns the stored job."""

    clock: VirtualClock
    calls: list[tuple[str, datetime]] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)

    async def enqueue(self, jobs, *, parent_id=None):
        out = []
        for new in jobs:
            assert isinstance(new, NewJob)
            self.calls.append((new.key, self.clock.now()))
            if new.key not in self.jobs:
                ts = self.clock.timestamp()
                self.jobs[new.key] = Job(
                    len(self.jobs) + 1,
                    new.type,
                    new.key,
                    new.payload,
                    JobStatus.PENDING,
                    0,
                    5,
                    ts,
                    ts,
                    ts,
                )
            out.append(self.jobs[new.key])
        return out


@dataclass
class OutageQueue:
    """Wraps a real dispatch queue; while ``down``, every call raises QueueUnavailableError.

    ``refused`` counts the calls refused, so a test can see that the outage was met.
    """

    inner: object
    down: bool = False
    refused: int = 0

    def __getattr__(self, name):
        call = getattr(self.inner, name)

        async def guarded(*args, **kwargs):
            if self.down:
                self.refused += 1
                raise QueueUnavailableError("queue unavailable: injected outage")
            return await call(*args, **kwargs)

        return guarded

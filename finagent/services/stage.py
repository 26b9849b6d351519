"""One pipeline step as an actor: receive a leased ``Job``, handle it, complete it with outputs.

Every trading service (scanner, scoring, planner, risk, execution, reporter) is a ``JobHandler``
run by a :class:`Stage`. The stage decodes the payload into its type
(:func:`~finagent.domain.job_types.decode_payload`; a bad one goes to dead, never retried: the
dispatcher already checks it, and the stage must decode it anyway), calls the handler with the
typed payload, and completes the job together with the handler's output jobs in one queue call. A
handler error fails the job with back-off (dead past ``max_attempts``). :class:`Chaos` injects
seeded crashes (``finagent simulate --crash-rate``) before or after the handler: the actor dies
holding the job; the dispatcher sees the crash (a lifecycle event) and fails the job it held
(back-off, dead past ``max_attempts``), and supervision restarts the actor.

An unreachable queue (``QueueUnavailableError``: Redis away) is neither a job failure nor a
crash: the handler's start, the handler (when it read the queue) and the settling call are
tried again (:func:`~finagent.services.outage.patiently`) until the queue answers. The job keeps its
attempts; its lease may expire meanwhile, and then the settling call finds it lost (the job ran
again elsewhere or will: handlers are idempotent by job key).
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Protocol, final

from finagent.domain.errors import PermanentJobError
from finagent.domain.job_types import PayloadError, decode_payload
from finagent.domain.jobs import (
    Job,
    JobNotFoundError,
    JobStatus,
    LeaseLostError,
    NewJob,
)
from finagent.services.outage import patiently

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from actors import ActorContext
    from finagent.domain.job_types import JobPayload
    from finagent.observability import Metrics
    from finagent.ports.queue import JobQueue

__all__ = ["Chaos", "InjectedCrash", "JobHandler", "Stage", "StageStats"]

log = logging.getLogger(__name__)


class InjectedCrash(RuntimeError):
    """A crash injected on purpose to exercise supervision."""


class JobHandler(Protocol):
    """A pipeline step: the output jobs for one input job."""

    async def start(self) -> None:
        """Called at every (re)start of the actor, before the first job."""
        ...

    async def handle(self, job: Job, payload: JobPayload) -> Sequence[NewJob]:
        """Do the job's work; the returned jobs are enqueued as the job completes.

        ``payload`` is ``job.payload`` decoded; a handler that does not take its type raises
        :class:`~finagent.domain.job_types.PayloadError` (the job goes to dead).
        """
        ...


@final
class Chaos:
    """Seeded random crashes: each job is crashed with probability ``rate``, twice at most."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self._rng = random.Random(f"chaos:{seed}")
        self.crashes = 0

    def roll(self, job: Job, where: str) -> None:
        """Raise :class:`InjectedCrash` with probability ``rate`` (not past the 2nd attempt)."""
        if self.rate > 0 and job.attempts <= 2 and self._rng.random() < self.rate:
            self.crashes += 1
            raise InjectedCrash(f"injected crash {where} {job.type} job {job.key}")


@final
class StageStats:
    """Wall-clock handling times (seconds) of every stage, for the simulate report."""

    def __init__(self, max_samples: int = 100_000) -> None:
        self.samples: list[float] = []
        self._max = max_samples

    def add(self, seconds: float) -> None:
        """Record one job's handling time; past ``max_samples`` the older half is dropped."""
        self.samples.append(seconds)
        if len(self.samples) > self._max:  # a daemon runs for months: keep the buffer bounded
            del self.samples[: len(self.samples) // 2]


@final
class Stage:
    """Runs a JobHandler. Receives Job (leased). Emits the handler's jobs. Restart: permanent."""

    def __init__(
        self,
        handler: JobHandler,
        queue: JobQueue,
        now: Callable[[], float],
        *,
        metrics: Metrics | None = None,
        chaos: Chaos | None = None,
        stats: StageStats | None = None,
    ) -> None:
        self._handler = handler
        self._queue = queue
        self._now = now
        self._metrics = metrics
        self._chaos = chaos
        self._stats = stats

    async def run(self, ctx: ActorContext[Job]) -> None:
        """Actor body: start the handler, then serve jobs until the inbox ends."""
        await self.start()
        ctx.started()  # the handler recovered (execution reconciled with the broker)
        async for job in ctx.inbox:
            await self.process(job)

    async def start(self) -> None:
        """What every (re)start does before the first job: the handler's recovery."""
        await patiently(self._handler.start, "stage start")

    async def process(self, job: Job) -> None:
        """Handle one leased job and settle it (complete, retry or dead)."""
        started = time.perf_counter()
        owner = job.lease_owner or ""
        try:
            payload = decode_payload(job.type, job.payload)
        except PayloadError as exc:
            log.error("job %s has a bad payload: %s", job.key, exc)
            await self._fail(job, owner, str(exc), retryable=False)
            return
        try:
            if self._chaos is not None:
                self._chaos.roll(job, "before")
            outputs = list(
                await patiently(lambda: self._handler.handle(job, payload), f"job {job.key}")
            )
            if self._chaos is not None:
                self._chaos.roll(job, "after")
        except InjectedCrash:
            raise  # a crash: the dispatcher fails the job this actor held
        except (PayloadError, PermanentJobError) as exc:  # no retry can fix these
            await self._fail(job, owner, str(exc), retryable=False)
            return
        except Exception as exc:
            log.warning("job %s failed: %s", job.key, exc, exc_info=True)
            await self._fail(job, owner, f"{type(exc).__name__}: {exc}", retryable=True)
            return
        try:
            await patiently(lambda: self._queue.complete(job.id, owner, outputs), f"job {job.key}")
        except (LeaseLostError, JobNotFoundError) as exc:  # not found: the queue lost its data
            log.warning("job %s finished after its lease was lost: %s", job.key, exc)
            return
        self._done(job, outputs, time.perf_counter() - started)

    def _done(self, job: Job, outputs: Sequence[NewJob], seconds: float) -> None:
        if self._stats is not None:
            self._stats.add(seconds)
        m = self._metrics
        if m is not None:
            m.jobs_completed.labels(job.type).inc()
            # From when the job fell due, not from its creation: a plan waits ~35 min for the
            # opening range by design, and that wait is not the daemon being slow.
            m.job_latency.labels(job.type).observe(max(0.0, self._now() - job.run_at))
            m.job_wait.labels(job.type).observe(max(0.0, job.run_at - job.created_at))
            # Outputs are counted as enqueued by the queue every enqueue passes (CountingQueue).

    async def _fail(self, job: Job, owner: str, error: str, *, retryable: bool) -> None:
        try:
            after = await patiently(
                lambda: self._queue.fail(job.id, owner, error, retryable=retryable),
                f"job {job.key}",
            )
        except (LeaseLostError, JobNotFoundError):
            return
        if self._metrics is not None:
            self._metrics.jobs_failed.labels(job.type).inc()
            if after.status is JobStatus.DEAD:
                self._metrics.jobs_dead.labels(job.type).inc()

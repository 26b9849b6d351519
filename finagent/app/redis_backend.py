"""The daemon's parts for ``queue_backend: redis``: the shared queue, its clock, leader and chores.

Split out of :mod:`finagent.app.parts`. With Redis the job queue is shared by every process
(``finagent up`` daemons and ``finagent worker`` processes); the SQLite writer of each process
keeps only the trading tables (kill switch, reports, scheduler cursor). The simulated timeline
is anchored in Redis, so every process of a ``feed: sim`` run follows the first one's clock.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, final

import trio

from finagent.adapters.clocks import VirtualClock
from finagent.adapters.redis.lock import RedisLeaderLock
from finagent.adapters.redis.queue import RedisJobQueue, open_redis_queue
from finagent.adapters.redis.state import load_sim_anchor, session_jobs
from finagent.domain.jobs import QueuePolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    from actors import ActorContext
    from finagent.ports.trading import Control, JobTrail
    from finagent.services.trading_state import WriterRecords
    from finagent.settings import Settings

__all__ = [
    "SCHEDULER_LOCK",
    "QueueTrailRecords",
    "housekeeping_actor",
    "leader_actor",
    "open_redis_clock",
    "open_redis_queue_for",
    "redis_url",
]

log = logging.getLogger(__name__)

#: the leader lock the scheduler runs under (``{finagent}`` is the queue's hash tag)
SCHEDULER_LOCK = "leader:scheduler"
LEADER_TTL_S = 10.0
_TIMEOUT_S = 10.0  # longest wait for a Redis reply before the connection is dropped


def redis_url(settings: Settings) -> str:
    """The Redis URL (a secret: never log it)."""
    return settings.redis.url.get_secret_value()


async def open_redis_clock(settings: Settings) -> tuple[VirtualClock, float]:
    """The sim timeline anchored in Redis (stored by the first process to start)."""
    wall = time.time()
    start = settings.sim.start
    sim_start = datetime.fromisoformat(start).timestamp() if start else wall
    async with open_redis_queue(redis_url(settings), QueuePolicy(1.0, 1), time.time) as probe:
        wall_start, anchored, speed = await load_sim_anchor(
            probe, wall, sim_start, settings.sim.speed
        )
    now = datetime.fromtimestamp(anchored + (wall - wall_start) * speed, UTC)
    log.info("sim timeline: %s at %gx (anchored in redis)", now.isoformat(), speed)
    return VirtualClock(now, speed=speed), speed


@asynccontextmanager
async def open_redis_queue_for(
    settings: Settings, policy: QueuePolicy, now: Callable[[], float], *, inline: bool
) -> AsyncIterator[RedisJobQueue]:
    """The shared queue for this process (``redis.url``), closed on exit."""
    url = redis_url(settings)
    async with open_redis_queue(url, policy, now, inline=inline, timeout_s=_TIMEOUT_S) as queue:
        log.info("job queue: redis streams (namespace %s)", queue.namespace)
        yield queue


@final
class QueueTrailRecords:
    """The writer's trading records, but the session's job trail comes from the Redis queue."""

    def __init__(self, records: WriterRecords, queue: RedisJobQueue) -> None:
        self._records = records
        self._queue = queue

    async def control(self) -> Control:
        """The control row (this process's SQLite)."""
        return await self._records.control()

    async def put_report(self, session_date: str, report: Mapping[str, object]) -> None:
        """Store a daily report."""
        await self._records.put_report(session_date, report)

    async def report(self, session_date: str) -> Mapping[str, object] | None:
        """A stored daily report, or None."""
        return await self._records.report(session_date)

    async def session_jobs(self, session_date: str) -> list[JobTrail]:
        """The session's jobs, from the shared queue."""
        return await session_jobs(self._queue, session_date)


def leader_actor(
    queue: RedisJobQueue,
    body: Callable[[ActorContext[object]], Awaitable[None]],
    *,
    ttl_s: float = LEADER_TTL_S,
) -> Callable[[ActorContext[object]], Awaitable[None]]:
    """``body`` (the scheduler) run only while this process holds the leader lock."""
    name = f"{queue.namespace}:{SCHEDULER_LOCK}"

    async def run(ctx: ActorContext[object]) -> None:
        lock = RedisLeaderLock(queue.transport, name, ttl_s=ttl_s)
        leading = False

        async def lead() -> None:
            nonlocal leading
            leading = True
            log.info("scheduler: leader (lock %s)", name)
            try:
                await body(ctx)
            finally:
                leading = False

        async with trio.open_nursery() as nursery:

            async def contend() -> None:
                await lock.run(lead)
                nursery.cancel_scope.cancel()

            log.info("scheduler: contending for the leader lock %s", name)
            # Following is a ready state; as leader, the scheduler's own declaration is a no-op.
            ctx.started()
            nursery.start_soon(contend)
            await ctx.stopping.wait()
            if not leading:  # a follower has nothing to finish; a leader's body sees stopping
                nursery.cancel_scope.cancel()

    return run


def housekeeping_actor(
    queue: RedisJobQueue, *, every_s: float, retain_done_s: float
) -> Callable[[ActorContext[object]], Awaitable[None]]:
    """Expired leases back to pending and done jobs pruned, every ``every_s`` (any process)."""

    async def run(ctx: ActorContext[object]) -> None:
        chores = partial(queue.run_housekeeping, every_s=every_s, retain_done_s=retain_done_s)
        await ctx.background(chores, declare_started=True)

    return run

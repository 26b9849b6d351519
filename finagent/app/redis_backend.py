"""The daemon's parts for ``queue_backend: redis``: the shared queue, its clock, leader and chores.

Split out of :mod:`finagent.app.parts`. With Redis the job queue is shared by every process
(``finagent up`` daemons and ``finagent worker`` processes); the SQLite writer of each process
keeps only the trading tables (kill switch, reports, scheduler cursor). The simulated timeline
is anchored in Redis, so every process of a ``feed: sim`` run follows the first one's clock.

Outages (:class:`RedisWatch`): Redis away is logged once when it goes and once when it is back,
``/readyz`` fails its ``redis`` check meanwhile, and every actor waits for it (nothing is
failed, nothing crashes). On the way back the data epoch is checked: a Redis that returned
without finagent's data (restarted empty, flushed) holds new entries (``on_lost``), marks the
day's report incomplete, and gets a new epoch and this process's sim anchor again, so a
process that starts afterwards follows the same timeline as the ones still running.
"""

from __future__ import annotations

import logging
import secrets
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, final

import trio

from finagent.adapters.clocks import VirtualClock
from finagent.adapters.redis.lock import RedisLeaderLock
from finagent.adapters.redis.queue import RedisJobQueue, open_redis_queue
from finagent.adapters.redis.state import claim_epoch, load_sim_anchor, read_epoch, session_jobs
from finagent.adapters.redis.transport import RedisUnavailableError
from finagent.domain.jobs import QueuePolicy
from finagent.services.reconciliation import session_day

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    from actors import ActorContext
    from finagent.ports.trading import Control, JobTrail
    from finagent.services.trading_state import WriterRecords
    from finagent.settings import Settings

__all__ = [
    "SCHEDULER_LOCK",
    "QueueTrailRecords",
    "RedisWatch",
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
    r, start = settings.redis, settings.sim.start
    async with open_redis_queue(
        redis_url(settings), QueuePolicy(1.0, 1), time.time,
        connect_retries=r.connect_retries, connect_timeout_s=r.connect_timeout_s,
    ) as probe:  # fmt: skip
        wall = time.time()  # after the start-up retries: the timeline starts now
        sim_start = datetime.fromisoformat(start).timestamp() if start else wall
        wall_start, anchored, speed = await load_sim_anchor(
            probe, wall, sim_start, settings.sim.speed
        )
    now = datetime.fromtimestamp(anchored + (wall - wall_start) * speed, UTC)
    log.info("sim timeline: %s at %gx (anchored in redis)", now.isoformat(), speed)
    return VirtualClock(now, speed=speed), speed


@asynccontextmanager
async def open_redis_queue_for(
    settings: Settings, policy: QueuePolicy, clock: VirtualClock, *, inline: bool
) -> AsyncIterator[RedisWatch]:
    """The shared queue for this process (``redis.url``) under its watch, closed on exit."""
    r = settings.redis
    async with open_redis_queue(
        redis_url(settings), policy, clock.timestamp, inline=inline, timeout_s=_TIMEOUT_S,
        connect_retries=r.connect_retries, connect_timeout_s=r.connect_timeout_s,
    ) as queue:  # fmt: skip
        epoch = await claim_epoch(queue, secrets.token_hex(8), time.time())
        log.info("job queue: redis streams (namespace %s, epoch %s)", queue.namespace, epoch)
        yield RedisWatch(queue, epoch, clock, settings.exchange.timezone)


@final
class RedisWatch:
    """Follows this process's Redis link: outages, and whether Redis still holds our data.

    Owns nothing but flags; :meth:`run` is a chore of the housekeeping actor.

    Args:
        queue: the shared queue (its transport reports the link's changes).
        epoch: the data epoch this process saw at start (:func:`claim_epoch`).
        clock: this process's clock: its timeline is published again after a data loss.
        exchange_tz: the zone of the session day a data loss marks incomplete.
        check_s: how often the epoch is read besides every reconnect (a FLUSHALL breaks no
            connection).
    """

    def __init__(
        self,
        queue: RedisJobQueue,
        epoch: str,
        clock: VirtualClock,
        exchange_tz: str,
        *,
        check_s: float = 5.0,
    ) -> None:
        self.queue = queue
        self.epoch = epoch
        self._clock = clock
        self._today = session_day(clock.now, exchange_tz)
        self._check_s = check_s
        self._check = trio.Event()
        self._down_since: float | None = None
        self.lost: str | None = None  #: why the data was lost, once it was
        self.lost_day: str | None = None  #: the session day whose trail it took
        self._on_up: list[Callable[[bool], None]] = []
        self._on_lost: list[Callable[[str], None]] = []
        queue.transport.listen(self._link)

    @property
    def up(self) -> bool:
        """True while Redis answers."""
        return self.queue.transport.up

    def listen(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(up)`` when Redis goes away or comes back (``/readyz``)."""
        self._on_up.append(listener)

    def on_lost(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(reason)`` once Redis is found without finagent's data."""
        self._on_lost.append(listener)

    def trail_gap(self, day: str) -> str | None:
        """Why session ``day``'s job trail is incomplete, or None when it is whole."""
        return self.lost if day == self.lost_day else None

    def _link(self, up: bool, why: str) -> None:
        now = trio.current_time()
        if up:
            down = now - (self._down_since if self._down_since is not None else now)
            log.warning("redis is back after %.1f s; checking that it still holds our data", down)
            self._check.set()
        else:
            self._down_since = now
            log.warning(
                "redis unavailable (%s): jobs wait for it, none is failed; not ready until it"
                " answers", why.removeprefix("redis unavailable: "),
            )  # fmt: skip
        for listener in self._on_up:
            listener(up)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Check the epoch on every reconnect and every ``check_s``."""
        task_status.started()
        while True:
            with trio.move_on_after(self._check_s):
                await self._check.wait()
            self._check = trio.Event()
            try:
                await self.check()
            except RedisUnavailableError:
                continue  # away again: the next reconnect checks

    async def check(self) -> bool:
        """Read the epoch; True while it is ours. A loss is handled once per epoch."""
        stored = await read_epoch(self.queue)
        if stored == self.epoch:
            return True
        day = self._today()
        reason = (
            f"redis came back without finagent's data (epoch {self.epoch} is "
            f"{'gone' if stored is None else 'now ' + stored})"
        )
        log.error(
            "%s: new entries held, the %s report will say its trail is incomplete; check the"
            " broker's orders and positions, then restart finagent", reason, day,
        )  # fmt: skip
        self.lost, self.lost_day = reason, day
        # A new epoch (so a later loss is seen too) and our timeline again, so a process that
        # starts now follows it rather than anchoring a new one.
        now = self._clock.now().timestamp()
        self.epoch = await claim_epoch(self.queue, secrets.token_hex(8), time.time())
        await load_sim_anchor(self.queue, time.time(), now, self._clock.speed)
        for listener in self._on_lost:
            listener(reason)
        return False


@final
class QueueTrailRecords:
    """The writer's trading records, but the session's job trail comes from the Redis queue."""

    def __init__(
        self, records: WriterRecords, queue: RedisJobQueue, watch: RedisWatch | None = None
    ) -> None:
        self._records = records
        self._queue = queue
        self._watch = watch

    def trail_gap(self, session_date: str) -> str | None:
        """Why the session's trail is incomplete (Redis lost its data), or None."""
        return None if self._watch is None else self._watch.trail_gap(session_date)

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
    queue: RedisJobQueue,
    *,
    every_s: float,
    retain_done_s: float,
    watch: RedisWatch | None = None,
) -> Callable[[ActorContext[object]], Awaitable[None]]:
    """Expired leases back to pending and done jobs pruned, every ``every_s`` (any process);
    and the ``watch`` on Redis's data epoch."""

    async def run(ctx: ActorContext[object]) -> None:
        housekeep = partial(queue.run_housekeeping, every_s=every_s, retain_done_s=retain_done_s)

        async def chores(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(housekeep)
                if watch is not None:
                    await nursery.start(watch.run)
                task_status.started()

        await ctx.background(chores, declare_started=True)

    return run

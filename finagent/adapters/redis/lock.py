"""RedisLeaderLock: leader election with expiry, so one daemon runs the scheduler's side effects.

The lock is one key holding the holder's random token: ``SET key token NX PX ttl`` takes it,
a Lua compare-and-``PEXPIRE`` renews it and a Lua compare-and-``DEL`` releases it, so a holder
can never renew or delete a lock that expired and went to someone else. :meth:`run` contends
until it wins, runs ``on_leader`` while renewing every ``ttl/3``, and cancels ``on_leader`` the
moment a renewal fails (the lock expired: another process may lead now). Expiry is Redis's
clock, so a crashed leader is replaced at most ``ttl`` later. Idempotency keys on the jobs the
scheduler enqueues cover the overlap of a paused leader that has not yet noticed.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, final

import trio

from finagent.adapters.redis.transport import RedisUnavailableError, Script
from finagent.domain.errors import LeadershipLostError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from finagent.adapters.redis.transport import RedisTransport

__all__ = ["LeadershipLostError", "RedisLeaderLock"]

log = logging.getLogger(__name__)

_RENEW = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""")

_RELEASE = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""")


@final
class RedisLeaderLock:
    """One named leader lock. Each instance has its own token: one contender per instance.

    Args:
        redis: the transport (shared with the queue; calls are pipelined with its own).
        name: the lock key, e.g. ``{finagent}:leader:scheduler``.
        ttl_s: expiry; a silent leader is replaced at most this long after its last renewal.
        retry_s: how often a follower tries to take the lock.
    """

    def __init__(
        self, redis: RedisTransport, name: str, *, ttl_s: float = 10.0, retry_s: float | None = None
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be > 0")
        self._redis = redis
        self.name = name
        self.token = secrets.token_hex(16)
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self.renew_s = ttl_s / 3
        self.retry_s = retry_s if retry_s is not None else ttl_s / 3

    async def acquire(self) -> bool:
        """Take the lock if it is free; True if this instance holds it now."""
        got = await self._redis.execute("SET", self.name, self.token, "NX", "PX", self._ttl_ms)
        return got is not None

    async def renew(self) -> bool:
        """Push the expiry out by ``ttl``; False if this instance no longer holds the lock."""
        return bool(await self._redis.evalsha(_RENEW, [self.name], [self.token, self._ttl_ms]))

    async def release(self) -> bool:
        """Give the lock up if this instance holds it; True if it did."""
        return bool(await self._redis.evalsha(_RELEASE, [self.name], [self.token]))

    async def holder(self) -> str | None:
        """The current holder's token, or None."""
        value = await self._redis.execute("GET", self.name)
        return None if value is None else str(value)

    async def run(
        self,
        on_leader: Callable[[], Awaitable[None]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Contend until leader, then run ``on_leader`` while renewing; release at the end.

        Returns when ``on_leader`` returns. A failed renewal cancels ``on_leader`` and goes
        back to contending. Redis errors while following are retried; cancellation releases
        the lock (shielded) so a clean stop hands over at once, not after ``ttl``.
        """
        task_status.started()
        while True:
            if not await self._try_acquire():
                await trio.sleep(self.retry_s)
                continue
            log.info("leader lock %s taken", self.name)
            try:
                lost = await self._lead(on_leader)
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(self.renew_s):
                    try:
                        await self.release()
                    except RedisUnavailableError as exc:
                        log.warning("leader lock %s not released: %s", self.name, exc)
            if not lost:
                return
            log.warning("leader lock %s lost: stepped down, contending again", self.name)

    async def _try_acquire(self) -> bool:
        try:
            return await self.acquire()
        except RedisUnavailableError as exc:  # a follower retries; the daemon logs the outage once
            log.debug("leader lock %s: redis unavailable (%s)", self.name, exc)
            return False

    async def _lead(self, on_leader: Callable[[], Awaitable[None]]) -> bool:
        """Run ``on_leader`` under renewal; True if the lock was lost."""
        lost = False
        async with trio.open_nursery() as nursery:

            async def keep() -> None:
                nonlocal lost
                # Past this the lock may have expired: a leader that cannot renew steps down.
                expires = trio.current_time() + self._ttl_ms / 1000
                while True:
                    await trio.sleep(self.renew_s)
                    started = trio.current_time()
                    try:
                        held = await self.renew()
                    except RedisUnavailableError as exc:
                        log.warning("leader lock %s: renewal failed (%s)", self.name, exc)
                        held = trio.current_time() + self.renew_s < expires
                    else:
                        expires = started + self._ttl_ms / 1000 if held else expires
                    if not held:
                        lost = True
                        nursery.cancel_scope.cancel()
                        return

            async def lead() -> None:
                await on_leader()
                nursery.cancel_scope.cancel()

            nursery.start_soon(keep)
            nursery.start_soon(lead)
        return lost

"""RedisJobQueue: the JobQueue and QueueAdmin ports on Redis Streams, for several processes.

One stream per job type with one consumer group (``workers``: the service that handles the
type), consumer = lease owner. Every call is one Lua script (see
:mod:`finagent.adapters.redis.scripts`), so the idempotency check and XADD, or XACK of a job
with the XADD of its outputs, happen atomically. Leases are kept in a sorted set scored by the
queue's clock, so ``extend`` and lease expiry follow the injected clock (virtual time in tests)
rather than Redis's idle timer; an expired lease's stream entry stays in the group's PEL and
the next claim takes it over with XCLAIM (delivery count + 1). Dead jobs are XACKed and copied
to a capped dead-letter stream; delayed jobs wait in a sorted set until a claim finds them due.

Trio: calls go through :class:`~finagent.adapters.redis.transport.RedisTransport`, RESP on a
Trio socket with automatic pipelining (concurrent calls share round trips), so the loop never
blocks and no thread hop is paid. ``now`` is read before each call, so every stored time is the
call's start even if virtual time moved while Redis answered.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn, final

import trio

from finagent.adapters.redis import scripts as lua
from finagent.adapters.redis.transport import (
    RedisReplyError,
    RedisTransport,
    RedisUnavailableError,
    Script,
    open_redis_transport,
)
from finagent.domain.jobs import (
    Job,
    JobNotFoundError,
    JobStatus,
    LeaseLostError,
    NewJob,
    QueuePolicy,
    QueueStats,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Collection, Sequence

__all__ = [
    "CONNECT_BACKOFF_MAX_S",
    "CONNECT_BACKOFF_S",
    "RedisJobQueue",
    "RedisUnavailableError",
    "encode_jobs",
    "open_redis_queue",
]

log = logging.getLogger(__name__)

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_PRUNE_BATCH = 1000
CONNECT_BACKOFF_S = 0.5  #: the wait before the first start-up retry (it doubles)
CONNECT_BACKOFF_MAX_S = 4.0  #: the longest wait between two start-up retries
_SCRIPTS = {
    name: Script(getattr(lua, name))
    for name in ("ENQUEUE", "CLAIM", "COMPLETE", "FAIL", "EXTEND", "RECOVER", "REQUEUE",
                 "PRUNE", "STATS", "NEXT_DUE")
}  # fmt: skip


def _num(text: str | None) -> float | None:
    return None if text is None else float(text)


def _job(flat: Sequence[str]) -> Job:
    h = dict(zip(flat[::2], flat[1::2], strict=True))
    parent = h.get("parent_id")
    return Job(
        id=int(h["id"]),
        type=h["type"],
        key=h["key"],
        payload=json.loads(h["payload"]),
        status=JobStatus(h["status"]),
        attempts=int(h["attempts"]),
        max_attempts=int(h["max_attempts"]),
        run_at=float(h["run_at"]),
        created_at=float(h["created_at"]),
        updated_at=float(h["updated_at"]),
        lease_owner=h.get("lease_owner"),
        lease_until=_num(h.get("lease_until")),
        finished_at=_num(h.get("finished_at")),
        last_error=h.get("last_error"),
        parent_id=None if parent is None else int(parent),
    )


def encode_jobs(jobs: Sequence[NewJob]) -> list[str]:
    """Flatten jobs for ENQUEUE/COMPLETE; serialises every payload first (may raise)."""
    args: list[str] = []
    for new in jobs:
        args += [
            new.type,
            new.key,
            _DUMPS(new.payload),
            "" if new.run_at is None else repr(float(new.run_at)),
            "" if new.max_attempts is None else str(int(new.max_attempts)),
        ]
    return args


def _enqueued(
    out: Sequence[int | Sequence[str]],
    jobs: Sequence[NewJob],
    args: Sequence[str],
    now: float,
    default_max: int,
    parent_id: int | None,
) -> list[Job]:
    """ENQUEUE's reply as jobs: a new job (an id) is built from what was sent, else the hash."""
    built: list[Job] = []
    for i, (item, new) in enumerate(zip(out, jobs, strict=True)):
        if not isinstance(item, int):
            built.append(_job(item))
            continue
        run_at = float(now) if new.run_at is None else float(new.run_at)
        max_attempts = default_max if new.max_attempts is None else int(new.max_attempts)
        built.append(
            Job(
                id=item,
                type=new.type,
                key=new.key,
                payload=json.loads(args[5 * i + 2]),  # a copy, as read back from the hash
                status=JobStatus.PENDING,
                attempts=0,
                max_attempts=max_attempts,
                run_at=run_at,
                created_at=float(now),
                updated_at=float(now),
                parent_id=parent_id,
            )
        )
    return built


def _raise_mapped(exc: RedisReplyError) -> NoReturn:
    """A script's error reply as the queue's typed error."""
    text = str(exc)
    if "NOTFOUND" in text:
        raise JobNotFoundError(text.split("NOTFOUND ", 1)[-1]) from None
    if "LEASELOST" in text:
        raise LeaseLostError(text.split("LEASELOST ", 1)[-1]) from None
    raise RedisUnavailableError(f"redis error: {text}") from exc


def _is_reply(exc: RedisUnavailableError) -> bool:
    """True when Redis answered with an error (mapped or not), not when it was unreachable."""
    return isinstance(exc, RedisReplyError) or isinstance(exc.__cause__, RedisReplyError)


@final
class RedisJobQueue:
    """JobQueue + QueueAdmin on Redis Streams. Safe to share between processes and tasks.

    Args:
        redis: the transport (the caller owns it; see :func:`open_redis_queue`).
        policy: lease, attempts and back-off values (every process must use the same).
        now: epoch seconds; ``time.time`` in production, virtual time in tests.
        namespace: key prefix; a ``{hash tag}`` keeps every key in one cluster slot.
    """

    def __init__(
        self,
        redis: RedisTransport,
        policy: QueuePolicy,
        now: Callable[[], float],
        *,
        namespace: str = "{finagent}",
    ) -> None:
        self._redis = redis
        self._policy = policy
        self._now = now
        self._ns = namespace
        self._rotation = 0

    @property
    def policy(self) -> QueuePolicy:
        """The queue's lease and retry policy."""
        return self._policy

    @property
    def transport(self) -> RedisTransport:
        """The transport (for the leader lock and the shared records in ``redis_state``)."""
        return self._redis

    @property
    def namespace(self) -> str:
        """The key prefix, hash tag included."""
        return self._ns

    async def _script(self, name: str, *args: str, now: float | None = None) -> Any:
        now = self._now() if now is None else now
        try:
            return await self._redis.evalsha(_SCRIPTS[name], (), (self._ns, repr(now), *args))
        except RedisReplyError as exc:
            _raise_mapped(exc)

    async def _execute(self, *args: str | int) -> Any:
        try:
            return await self._redis.execute(*args)
        except RedisReplyError as exc:
            _raise_mapped(exc)

    async def ping(self) -> bool:
        """True when Redis answers."""
        return bool(await self._execute("PING"))

    async def enqueue(self, jobs: Sequence[NewJob], *, parent_id: int | None = None) -> list[Job]:
        """Store new jobs; a key that exists returns the existing job, never a duplicate."""
        if not jobs:
            return []
        args = encode_jobs(jobs)
        parent = "" if parent_id is None else str(parent_id)
        now, default = self._now(), self._policy.max_attempts
        out = await self._script("ENQUEUE", str(default), parent, *args, now=now)
        return _enqueued(out, jobs, args, now, default, parent_id)

    async def claim(self, types: Collection[str], limit: int, owner: str) -> list[Job]:
        """Lease up to ``limit`` due pending jobs of ``types`` to ``owner``.

        Types are visited from a rotating start, so one busy type cannot starve the others.
        """
        order = list(dict.fromkeys(types))
        if not order or limit <= 0:
            return []
        self._rotation = (self._rotation + 1) % len(order)
        order = order[self._rotation :] + order[: self._rotation]
        now = self._now()
        lease_until = repr(now + self._policy.lease_s)
        out = await self._script("CLAIM", lease_until, owner, str(limit), *order, now=now)
        return sorted((_job(flat) for flat in out), key=lambda j: (j.run_at, j.id))

    async def complete(self, job_id: int, owner: str, outputs: Sequence[NewJob] = ()) -> list[Job]:
        """Mark a leased job done and enqueue its outputs in one atomic step; returns outputs."""
        args = encode_jobs(outputs)
        now, default = self._now(), self._policy.max_attempts
        out = await self._script(
            "COMPLETE", str(job_id), owner, str(default), str(job_id), *args, now=now
        )
        return _enqueued(out, outputs, args, now, default, job_id)

    async def fail(self, job_id: int, owner: str, error: str, *, retryable: bool = True) -> Job:
        """Record a failure: back to pending with back-off, or dead past max_attempts."""
        p = self._policy
        flat = await self._script(
            "FAIL", str(job_id), owner, error, "1" if retryable else "0",
            repr(float(p.retry_base_s)), repr(float(p.retry_max_s)),
        )  # fmt: skip
        return _job(flat)

    async def extend(self, job_id: int, owner: str) -> bool:
        """Renew the lease; False if the lease was lost."""
        now = self._now()
        until = repr(now + self._policy.lease_s)
        return bool(await self._script("EXTEND", str(job_id), owner, until, now=now))

    async def requeue(self, job_id: int) -> Job | None:
        """Move a dead (or stuck running) job back to pending with its attempts reset."""
        flat = await self._script("REQUEUE", str(job_id))
        return _job(flat) if flat else None

    async def recover(self) -> int:
        """Return running jobs whose lease expired to pending (dead if out of attempts)."""
        return int(await self._script("RECOVER"))

    async def stats(self) -> QueueStats:
        """Counts by type and status and the oldest due pending age."""
        now = self._now()
        flat, oldest = await self._script("STATS", now=now)
        counts: dict[tuple[str, JobStatus], int] = {}
        for field, value in zip(flat[::2], flat[1::2], strict=True):
            if int(value):
                job_type, status = field.rsplit("|", 1)
                counts[(job_type, JobStatus(status))] = int(value)
        age = None if not oldest else max(0.0, now - float(oldest))
        return QueueStats(counts, age)

    async def prune(self, older_than_s: float) -> int:
        """Delete done jobs finished more than ``older_than_s`` ago and trim the streams."""
        cutoff = repr(self._now() - older_than_s)
        total = 0
        while True:
            n = int(await self._script("PRUNE", cutoff, str(_PRUNE_BATCH)))
            total += n
            if n < _PRUNE_BATCH:
                return total

    async def get(self, job_id: int) -> Job | None:
        """One job by id, or None."""
        flat = await self._execute("HGETALL", f"{self._ns}:job:{job_id}")
        return _job(flat) if flat else None

    async def next_due(self, types: Collection[str]) -> float | None:
        """Earliest run_at (epoch seconds) among pending jobs of ``types``."""
        if not types:
            return None
        when = await self._script("NEXT_DUE", *dict.fromkeys(types))
        return float(when) if when else None

    async def dead_letters(self, count: int = 100) -> list[dict[str, str]]:
        """The newest entries of the dead-letter stream (id, type, key, error), newest first."""
        rows = await self._execute("XREVRANGE", f"{self._ns}:dead", "+", "-", "COUNT", count)
        return [dict(zip(flat[::2], flat[1::2], strict=True)) for _, flat in rows]

    async def delete_namespace(self) -> int:
        """Delete every key of this queue's namespace (tests, benchmarks); returns how many."""
        keys: list[str] = []
        cursor, match = "0", f"{self._ns}:*"
        while True:
            cursor, batch = await self._execute("SCAN", cursor, "MATCH", match, "COUNT", 1000)
            keys += batch
            if cursor == "0":
                break
        return int(await self._execute("DEL", *keys)) if keys else 0

    async def run_housekeeping(
        self,
        *,
        every_s: float = 5.0,
        retain_done_s: float | None = None,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Recover expired leases (and prune) every ``every_s``; safe in every process."""
        task_status.started()
        while True:
            try:
                if n := await self.recover():
                    log.warning("recovered %d job(s) whose lease expired", n)
                if retain_done_s is not None:
                    await self.prune(retain_done_s)
            except RedisUnavailableError as exc:
                # An outage is logged once by the daemon, not each round; an error reply is news.
                level = logging.WARNING if _is_reply(exc) else logging.DEBUG
                log.log(level, "housekeeping skipped: %s", exc)
            await trio.sleep(every_s)


@asynccontextmanager
async def open_redis_queue(
    url: str,
    policy: QueuePolicy,
    now: Callable[[], float],
    *,
    namespace: str = "{finagent}",
    inline: bool = False,
    timeout_s: float | None = 10.0,
    connect_retries: int = 0,
    connect_timeout_s: float | None = None,
) -> AsyncIterator[RedisJobQueue]:
    """``async with open_redis_queue(url, policy, now) as queue``: one connection, closed on exit.

    ``inline``: blocking round trips on the Trio thread, for simulations under virtual time
    (see :mod:`finagent.adapters.redis.transport`). ``timeout_s``: longest wait for a reply;
    on Trio's clock unless ``inline`` (then a socket timeout); None under ``MockClock``.
    ``connect_retries``: PINGs tried again after the first fails, ``CONNECT_BACKOFF_S`` apart,
    doubling up to ``CONNECT_BACKOFF_MAX_S`` (a Redis that starts a moment after the daemon).
    ``connect_timeout_s``: longest wait for one connect (default: ``timeout_s``).

    Raises:
        RedisUnavailableError: Redis does not answer PING, after the retries.
    """
    async with open_redis_transport(
        url, timeout_s=timeout_s, blocking=inline, connect_timeout_s=connect_timeout_s
    ) as redis:
        queue = RedisJobQueue(redis, policy, now, namespace=namespace)
        delay = CONNECT_BACKOFF_S
        for attempt in range(connect_retries + 1):
            try:
                await queue.ping()
                break
            except RedisUnavailableError as exc:
                if attempt == connect_retries:
                    raise
                log.warning(
                    "redis not answering at start (%s); try %d of %d in %g s",
                    exc, attempt + 2, connect_retries + 1, delay,
                )  # fmt: skip
                await trio.sleep(delay)
                delay = min(delay * 2, CONNECT_BACKOFF_MAX_S)
        yield queue

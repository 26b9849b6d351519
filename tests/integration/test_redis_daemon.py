"""The daemon's Redis wiring in one process: a simulated day, the leader actor, the anchor."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import trio
import trio.testing

from actors import ChildSpec, SupervisorSpec, open_supervisor
from finagent.adapters.clocks import VirtualClock
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.adapters.redis.queue import open_redis_queue
from finagent.adapters.redis.state import load_sim_anchor, session_jobs
from finagent.app import DaemonOptions, run_daemon, run_worker_blocking
from finagent.app.parts import DaemonProbe
from finagent.app.redis_backend import housekeeping_actor, leader_actor
from finagent.app.simulate import find_session
from finagent.domain.jobs import Job, LeaseLostError, NewJob, QueuePolicy, QueueStats
from finagent.services.persistence import CommitNote
from finagent.services.routing import NotifyingQueue
from finagent.settings import load_settings
from tests.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, used by name below

DAY = date(2025, 1, 6)


def _settings(tmp_path: Path, name: str, **extra: Any) -> Any:
    overrides = {
        "db_path": str(tmp_path / name / "sim.db"),
        "sim": {"symbols": 600, "seed": 7},
        "metrics": {"enabled": False},
        **extra,
    }
    (tmp_path / name).mkdir()
    return load_settings(None, overrides, environ={}).settings


def _orders(report: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return sorted(
        (o["client_order_id"], o["symbol"], o["side"], o["qty"]) for o in report["orders"]
    )


def test_the_daemon_on_redis_runs_the_pre_market_scan_under_virtual_time(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    session = find_session(XcalsExchangeCalendar("XNYS"), DAY, DAY)
    settings = _settings(tmp_path, "r", queue_backend="redis", redis={"url": redis_server.url})

    async def main() -> list[tuple[str, str]]:
        vclock = VirtualClock(session.open - timedelta(minutes=35))
        probe = DaemonProbe()
        options = DaemonOptions(clock=vclock, inline=True, probe=probe)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: run_daemon(
                    settings, options, stop=stop, task_status=task_status
                )
            )
            await vclock.sleep_until(session.open - timedelta(minutes=20))
            assert probe.parts is not None
            trail = await probe.parts.records.session_jobs(DAY.isoformat())
            stop.set()
        return [(t.type, t.status) for t in trail]

    trail = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert ("scan", "done") in trail and ("score", "done") in trail
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        assert client.hget("{finagent}:counts", "scan|done") == "1"
        assert client.get("{finagent}:leader:scheduler") is None  # released at the stop
    finally:
        client.close()


def test_worker_refuses_the_sqlite_backend(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "w", log={"format": "json"})
    assert run_worker_blocking(settings, ("scoring",)) == 2


@dataclass
class _Ctx:
    name: str = "scheduler"
    stopping: trio.Event = field(default_factory=trio.Event)
    declared: int = 0

    def started(self) -> None:
        self.declared += 1


async def test_only_one_leader_runs_the_body_and_a_follower_stops_at_once(
    redis_server: RedisServer,
) -> None:
    policy = QueuePolicy(30.0, 3)
    ran: list[str] = []
    async with open_redis_queue(redis_server.url, policy, time.time) as queue:

        def body(tag: str) -> Any:
            async def run(ctx: Any) -> None:
                ran.append(tag)
                await ctx.stopping.wait()

            return run

        first, second = _Ctx(), _Ctx()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(leader_actor(queue, body("a"), ttl_s=3.0), first)
            with trio.fail_after(5):
                while not ran:  # noqa: ASYNC110 - waits for the real Redis round trips
                    await trio.sleep(0.01)
            nursery.start_soon(leader_actor(queue, body("b"), ttl_s=3.0), second)
            await trio.sleep(0.2)  # the follower tried once (SET NX fails) and waits
            second.stopping.set()  # a follower stops without waiting for the lock
            first.stopping.set()
        assert ran == ["a"]
        assert (first.declared, second.declared) == (1, 1)  # a follower is ready too
        assert await queue.transport.execute("GET", "{finagent}:leader:scheduler") is None


async def test_housekeeping_recovers_an_expired_lease(redis_server: RedisServer) -> None:
    now = [1000.0]
    policy = QueuePolicy(5.0, 3)
    async with open_redis_queue(redis_server.url, policy, lambda: now[0]) as queue:
        (job,) = await queue.enqueue([NewJob("scan", "scan:2025-01-06", {})])
        assert await queue.claim(["scan"], 1, "gone")
        now[0] += 10.0
        chores = housekeeping_actor(queue, every_s=0.01, retain_done_s=3600.0)
        spec = SupervisorSpec("root", [ChildSpec("housekeeping", chores)])
        async with open_supervisor(spec):  # returns once housekeeping declared started
            with trio.fail_after(5):
                while (await queue.get(job.id)).status.value != "pending":  # type: ignore[union-attr] # noqa: ASYNC110 - the job exists; polls Redis
                    await trio.sleep(0.01)
        trail = await session_jobs(queue, "2025-01-06")
        assert [(t.type, t.status) for t in trail] == [("scan", "pending")]
        assert await session_jobs(queue, "2025-01-07") == []


async def test_the_sim_anchor_is_stored_once(redis_server: RedisServer) -> None:
    async with open_redis_queue(redis_server.url, QueuePolicy(1.0, 1), time.time) as queue:
        assert await load_sim_anchor(queue, 1.0, 2.0, 600.0) == (1.0, 2.0, 600.0)
        assert await load_sim_anchor(queue, 5.0, 6.0, 1.0) == (1.0, 2.0, 600.0)


class _LostQueue:
    """A queue whose leases are always lost (the Redis lease expired and went elsewhere)."""

    async def enqueue(self, jobs: Any, *, parent_id: int | None = None) -> list[Job]:
        return []

    async def claim(self, types: Any, limit: int, owner: str) -> list[Job]:
        return []

    async def complete(self, job_id: int, owner: str, outputs: Any = ()) -> list[Job]:
        raise LeaseLostError(str(job_id))

    async def fail(self, job_id: int, owner: str, error: str, *, retryable: bool = True) -> Job:
        raise LeaseLostError(str(job_id))

    async def extend(self, job_id: int, owner: str) -> bool:
        return False

    async def next_due(self, types: Any) -> float | None:
        return 12.5

    async def stats(self) -> QueueStats:
        return QueueStats({}, None)


async def test_notifying_queue_settles_a_lost_lease_and_passes_the_rest_through() -> None:
    notes: list[CommitNote] = []
    queue = NotifyingQueue(_LostQueue())
    queue.listen(notes.append)
    with pytest.raises(LeaseLostError):
        await queue.complete(7, "me")
    with pytest.raises(LeaseLostError):
        await queue.fail(8, "me", "boom")
    assert notes == [CommitNote(False, frozenset({7})), CommitNote(False, frozenset({8}))]
    assert await queue.enqueue([]) == [] and notes[-1] == CommitNote(False, frozenset())
    assert await queue.claim(["scan"], 1, "me") == []
    assert await queue.extend(1, "me") is False
    assert await queue.next_due(["scan"]) == 12.5
    assert (await queue.stats()).oldest_pending_age_s is None

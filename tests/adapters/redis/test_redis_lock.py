"""RedisLeaderLock against a real redis-server: two holders contending, loss, release, outage."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import redis
import trio

from finagent.adapters.redis.lock import RedisLeaderLock
from finagent.adapters.redis.transport import RedisTransport, open_redis_transport
from tests.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, used by name below

KEY = "{t}:leader:scheduler"


def client(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True, socket_connect_timeout=1)


@pytest.fixture
async def transport(redis_server: RedisServer) -> AsyncIterator[RedisTransport]:
    # no reply deadline: some tests run under autojump, where it would fire at once
    async with open_redis_transport(redis_server.url, timeout_s=None) as redis:
        yield redis


async def test_two_holders_one_lock(transport: RedisTransport, redis_server: RedisServer) -> None:
    a = RedisLeaderLock(transport, KEY, ttl_s=30)
    b = RedisLeaderLock(transport, KEY, ttl_s=30)
    assert await a.acquire() is True
    assert await b.acquire() is False
    assert await b.renew() is False and await b.release() is False  # never touches a's lock
    assert await a.holder() == a.token
    assert await a.renew() is True
    assert await a.release() is True and await a.holder() is None
    assert await b.acquire() is True and await b.holder() == b.token


async def test_a_crashed_holder_is_replaced_after_the_ttl(
    transport: RedisTransport, redis_server: RedisServer
) -> None:
    crashed = RedisLeaderLock(transport, KEY, ttl_s=0.3)
    assert await crashed.acquire()  # and never renews nor releases
    follower = RedisLeaderLock(transport, KEY, ttl_s=0.3, retry_s=0.02)
    led = trio.Event()

    async def on_leader() -> None:
        led.set()

    t0 = trio.current_time()
    with trio.fail_after(5):  # Redis expires the key on its own (wall) clock
        await follower.run(on_leader)
    assert led.is_set() and trio.current_time() - t0 >= 0.2
    assert await follower.holder() is None  # released when on_leader returned


async def test_the_leader_renews_and_steps_down_when_the_lock_is_taken(
    transport: RedisTransport, redis_server: RedisServer, autojump_clock: object
) -> None:
    # Events, not sleeps, mark each step: a thread call lets autojump skip ahead (trio #456).
    leader = RedisLeaderLock(transport, KEY, ttl_s=30)
    rival = RedisLeaderLock(transport, KEY, ttl_s=30)
    terms: list[str] = []
    changed = trio.Event()

    async def on_leader() -> None:
        nonlocal changed
        terms.append("start")
        changed.set()
        try:
            await trio.sleep_forever()
        finally:
            terms.append("end")
            changed.set()

    async def next_change() -> None:
        nonlocal changed
        await changed.wait()
        changed = trio.Event()

    async with trio.open_nursery() as nursery:
        await nursery.start(leader.run, on_leader)
        await next_change()
        await trio.sleep(100)  # many renewals: still the leader
        assert terms == ["start"] and await leader.holder() == leader.token
        # as if it expired and a rival took it, in one step (the leader renews meanwhile)
        client(redis_server).set(KEY, rival.token, px=30_000)
        await next_change()
        assert terms == ["start", "end"]  # the next renewal failed: on_leader cancelled
        assert await rival.release()
        await next_change()  # the old leader contends again and wins
        assert terms == ["start", "end", "start"]
        nursery.cancel_scope.cancel()
    assert terms == ["start", "end", "start", "end"]
    assert await rival.holder() is None  # cancellation released the lock


async def test_an_outage_makes_the_leader_step_down(
    transport: RedisTransport, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Real clock: with the server gone the lock's only deadlines are its own, and under
    # autojump a failing thread call would let virtual time skip to the test's timeout.
    leader = RedisLeaderLock(transport, KEY, ttl_s=0.3)
    led, ended = trio.Event(), trio.Event()

    async def on_leader() -> None:
        led.set()
        try:
            await trio.sleep_forever()
        finally:
            ended.set()

    with caplog.at_level(logging.WARNING):
        async with trio.open_nursery() as nursery:
            await nursery.start(leader.run, on_leader)
            await led.wait()
            redis_server.kill()
            with trio.fail_after(10):
                await ended.wait()  # renewals failed until the lock could have expired
            with trio.fail_after(10):  # contending through the outage: warnings, no crash
                while "redis unavailable" not in caplog.text:  # noqa: ASYNC110 - log of a thread
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    text = caplog.text
    assert "renewal failed" in text and "redis unavailable" in text and "not released" in text


async def test_ttl_must_be_positive(transport: RedisTransport) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        RedisLeaderLock(transport, KEY, ttl_s=0)

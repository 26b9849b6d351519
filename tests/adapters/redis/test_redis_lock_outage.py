"""A follower contends for the leader lock through a Redis outage and leads once it is back."""

from __future__ import annotations

import logging

import pytest
import redis
import trio

from finagent.adapters.redis.lock import RedisLeaderLock
from finagent.adapters.redis.transport import open_redis_transport
from tests.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, used by name below

KEY = "{t}:leader:scheduler"


async def test_a_follower_keeps_contending_while_redis_is_down(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Real clock: the outage is a real process gone; the lock's retries are its own deadlines.
    redis_server.kill()
    led = trio.Event()

    async def on_leader() -> None:
        led.set()
        await trio.sleep_forever()

    with caplog.at_level(logging.DEBUG, logger="finagent.adapters.redis.lock"):
        async with open_redis_transport(redis_server.url, timeout_s=2.0) as transport:
            follower = RedisLeaderLock(transport, KEY, ttl_s=3.0, retry_s=0.05)
            async with trio.open_nursery() as nursery:
                await nursery.start(follower.run, on_leader)
                with trio.fail_after(10):
                    while "redis unavailable" not in caplog.text:  # noqa: ASYNC110 - a log
                        await trio.sleep(0.02)
                assert not led.is_set()  # no Redis, no leadership
                redis_server.start()  # back, on the same port
                with trio.fail_after(10):
                    await led.wait()
                holder = redis.Redis.from_url(redis_server.url, decode_responses=True).get(KEY)
                assert holder == follower.token
                nursery.cancel_scope.cancel()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a retry, not an error
    assert "leader lock %s taken" in [r.msg for r in caplog.records]

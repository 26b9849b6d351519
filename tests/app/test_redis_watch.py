"""RedisWatch: a Redis that lost finagent's data is found, said once, and holds new entries."""

from __future__ import annotations

import itertools
import logging
import signal
import socket
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import trio

from finagent.adapters.clocks import VirtualClock
from finagent.adapters.redis.queue import RedisUnavailableError, open_redis_queue
from finagent.adapters.redis.state import claim_epoch, read_sim_anchor
from finagent.app.redis_backend import RedisWatch
from finagent.domain.jobs import QueuePolicy
from finagent.domain.risk import TradingState
from finagent.services.trading_state import TradingSwitch
from tests.redis_server import RedisServer, redis_server, shared_redis_server

__all__ = ["redis_server"]  # the fixture, used by name below

_N = itertools.count()


async def test_lost_data_is_found_once_holds_entries_and_republishes_the_timeline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ns = f"{{watch{next(_N)}}}"
    url = shared_redis_server().url
    async with open_redis_queue(url, QueuePolicy(1.0, 1), time.time, namespace=ns) as queue:
        epoch = await claim_epoch(queue, "first", time.time())
        assert epoch == "first" and await claim_epoch(queue, "second", time.time()) == "first"
        clock = VirtualClock(datetime(2025, 1, 6, 15, tzinfo=UTC), speed=60.0)
        watch = RedisWatch(queue, epoch, clock, "America/New_York")
        switch = TradingSwitch()
        watch.on_lost(switch.hold)
        assert await watch.check() and watch.trail_gap("2025-01-06") is None
        await queue.delete_namespace()  # Redis came back empty (or was flushed)
        assert not await watch.check()
        assert await watch.check()  # said once: the new epoch is ours
        assert switch.state is TradingState.DEGRADED and switch.held == watch.lost
        assert watch.trail_gap("2025-01-06") == watch.lost and watch.trail_gap("2025-01-07") is None
        anchor = await read_sim_anchor(queue)
        assert anchor is not None and anchor[2] == 60.0
        assert abs(anchor[1] - clock.timestamp()) < 60  # this process's timeline, published
        lost = [r for r in caplog.records if "without finagent's data" in r.getMessage()]
        assert len(lost) == 1 and lost[0].levelno == logging.ERROR
        await queue.delete_namespace()


async def test_start_up_retries_then_one_error(autojump_clock: Any, caplog) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = trio.current_time()
    with pytest.raises(RedisUnavailableError, match="ConnectionRefusedError"):
        async with open_redis_queue(
            f"redis://127.0.0.1:{port}/0", QueuePolicy(1.0, 1), time.time,
            connect_retries=5, timeout_s=None,
        ):  # fmt: skip
            pass
    assert trio.current_time() - t0 == pytest.approx(0.5 + 1 + 2 + 4 + 4)
    assert len([r for r in caplog.records if "not answering at start" in r.getMessage()]) == 5


async def test_the_watch_keeps_checking_through_a_hung_redis_and_sees_it_back(
    redis_server: RedisServer,
) -> None:
    # SIGSTOP: the server accepts connections (the kernel does) but never answers, so each
    # epoch check times out and reconnects: the watch's own checks are what count connects.
    # Against the transport before it waited for a PING's answer, changes read
    # [False, True, False, True, ...]: every reconnect looked like the server was back.
    ns = f"{{watch{next(_N)}}}"
    changes: list[bool] = []
    async with open_redis_queue(
        redis_server.url, QueuePolicy(1.0, 1), time.time, namespace=ns, timeout_s=0.2
    ) as queue:
        epoch = await claim_epoch(queue, "ours", time.time())
        clock = VirtualClock(datetime(2025, 1, 6, 15, tzinfo=UTC), speed=1.0)
        watch = RedisWatch(queue, epoch, clock, "America/New_York", check_s=0.05)
        watch.listen(changes.append)
        proc = redis_server.proc
        assert proc is not None
        async with trio.open_nursery() as nursery:
            await nursery.start(watch.run)
            before = queue.transport.connects
            proc.send_signal(signal.SIGSTOP)
            try:
                with trio.fail_after(10):  # bounded polling of a real process's effect
                    while queue.transport.connects < before + 2:  # noqa: ASYNC110
                        await trio.sleep(0.05)
                # the run loop lives on; a reconnect to the hung server gets no answer to its
                # PING, so the watch never calls it back (no "back"/"unavailable" flapping)
                assert changes == [False]
            finally:
                proc.send_signal(signal.SIGCONT)
            with trio.fail_after(10):
                while not watch.up:  # noqa: ASYNC110 - the next check reconnects
                    await trio.sleep(0.05)
            assert changes[-1] is True and watch.lost is None  # back, with our data
            nursery.cancel_scope.cancel()

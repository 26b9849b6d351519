"""QueueTrailRecords: the kill switch and reports in this process's SQLite, the trail from Redis."""

from __future__ import annotations

import time

import trio

from finagent.adapters.redis.queue import open_redis_queue
from finagent.adapters.sqlite.state import SqliteTradingStore, set_control
from finagent.app.redis_backend import QueueTrailRecords
from finagent.domain.jobs import NewJob, QueuePolicy
from finagent.services.persistence import JobWriter, WriteRequest
from finagent.services.trading_state import WriterRecords
from tests.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, used by name below

POLICY = QueuePolicy(max_attempts=3)
DAY = "2025-01-06"


async def test_control_and_reports_come_from_sqlite_and_the_trail_from_redis(
    tmp_path, redis_server: RedisServer
) -> None:
    path = tmp_path / "t.db"
    store = SqliteTradingStore.open(path)
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, time.time, inline=True)
    async with (
        open_redis_queue(redis_server.url, POLICY, time.time, inline=True) as redis_queue,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(writer.serve, receive)
        sqlite_records = WriterRecords(send)
        records = QueueTrailRecords(sqlite_records, redis_queue)

        assert (await records.control()).state == "active"
        set_control(path, "halted", flatten=True, now=1.0)  # the CLI's kill switch, same file
        control = await records.control()
        assert (control.state, control.flatten_seq) == ("halted", 1)

        assert await records.report(DAY) is None
        await records.put_report(DAY, {"date": DAY, "pnl": "1.50"})
        assert await records.report(DAY) == {"date": DAY, "pnl": "1.50"}
        assert await sqlite_records.report(DAY) == {"date": DAY, "pnl": "1.50"}

        await redis_queue.enqueue([NewJob("report", f"report:{DAY}", {"session_date": DAY})])
        (trail,) = await records.session_jobs(DAY)
        assert (trail.type, trail.key, trail.status) == ("report", f"report:{DAY}", "pending")
        assert await sqlite_records.session_jobs(DAY) == []  # not in this process's SQLite
        nursery.cancel_scope.cancel()
    store.close()

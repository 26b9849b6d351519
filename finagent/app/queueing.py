"""The single writer and the job queue (SQLite's or Redis's), and the dispatcher over them."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from finagent.app.redis_backend import QueueTrailRecords, open_redis_queue_for
from finagent.services.dispatcher import Dispatcher
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest
from finagent.services.routing import NotifyingQueue, trio_time_queue
from finagent.services.trading_state import WriterRecords

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AsyncExitStack

    from actors import ActorContext
    from finagent.adapters.clocks import VirtualClock
    from finagent.adapters.redis.queue import RedisJobQueue
    from finagent.adapters.sqlite.state import SqliteTradingStore
    from finagent.app.options import DaemonOptions
    from finagent.app.parts import Actor
    from finagent.app.redis_backend import RedisWatch
    from finagent.domain.jobs import QueuePolicy
    from finagent.ports.queue import DispatchQueue
    from finagent.settings import Settings

__all__ = ["Queue", "build_dispatcher", "open_queue"]

log = logging.getLogger(__name__)


def _node() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _persistence(
    writer: JobWriter, receive: trio.MemoryReceiveChannel[WriteRequest]
) -> Callable[[ActorContext[object]], Awaitable[None]]:
    async def persistence(ctx: ActorContext[object]) -> None:
        await ctx.background(writer.serve, receive, ctx.started)  # started: after recovery

    return persistence


@dataclass
class Queue:
    """The job queue the stages share, the records the services read, and the writer."""

    queue: DispatchQueue
    records: WriterRecords | QueueTrailRecords
    writer_records: WriterRecords
    writer: JobWriter
    persistence: Actor
    redis: RedisJobQueue | None
    notifying: NotifyingQueue | None
    backlog: Callable[[], int]  # requests waiting in the writer's mailbox
    watch: RedisWatch | None = None


async def open_queue(
    stack: AsyncExitStack,
    settings: Settings,
    options: DaemonOptions,
    store: SqliteTradingStore,
    policy: QueuePolicy,
    clock: VirtualClock,
) -> Queue:
    """The single writer over the SQLite store, and the job queue: SQLite's or Redis's."""
    send, receive = trio.open_memory_channel[WriteRequest](1024)
    writer = JobWriter(
        store, policy, clock.timestamp, inline=options.inline,
        retain_done_s=settings.queue.retain_done_s,
    )  # fmt: skip
    writer_records = WriterRecords(send)
    persistence = _persistence(writer, receive)
    backlog = lambda: receive.statistics().current_buffer_used  # noqa: E731
    if settings.queue_backend != "redis":
        queue = PersistentJobQueue(send)
        return Queue(
            queue, writer_records, writer_records, writer, persistence, None, None, backlog
        )
    watch = await stack.enter_async_context(
        open_redis_queue_for(settings, policy, clock, inline=options.inline)
    )
    redis_queue = watch.queue
    notifying = NotifyingQueue(redis_queue)
    records = QueueTrailRecords(writer_records, redis_queue, watch)
    return Queue(
        notifying,
        records,
        writer_records,
        writer,
        persistence,
        redis_queue,
        notifying,
        backlog,
        watch,
    )


def build_dispatcher(
    settings: Settings, options: DaemonOptions, q: Queue, clock: VirtualClock
) -> Dispatcher:
    """The dispatcher, woken by this process's commits (the writer's or the Redis queue's)."""
    qs = settings.queue
    inline_sqlite = options.inline and q.redis is None
    idle = 3600.0 if inline_sqlite else None  # inline: every wake-up is a commit
    dispatcher = Dispatcher(
        trio_time_queue(q.queue, clock.trio_deadline), trio.current_time, node=_node(),
        poll_s=idle or qs.poll_s, poll_max_s=idle or qs.poll_max_s,
    )  # fmt: skip
    if q.notifying is None:
        q.writer.listen(dispatcher.on_commit)
    else:
        q.notifying.listen(dispatcher.on_commit)
    return dispatcher

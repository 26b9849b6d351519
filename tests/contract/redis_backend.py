"""The Redis backend for the queue contract suite: a RedisJobQueue on a real redis-server.

Each harness gets its own key namespace on one shared server per test process, so tests stay
isolated without a server start each. ``now`` is the suite's virtual clock (``virtual_now``),
read on the Trio side before every Redis call: lease times stay exact under autojump.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from finagent.adapters.redis.queue import RedisJobQueue, open_redis_queue
from finagent.domain.jobs import QueuePolicy
from tests.contract.backends import virtual_now
from tests.redis_server import shared_redis_server

__all__ = ["RedisQueueHarness", "open_redis_harness"]


@dataclass
class RedisQueueHarness:
    """Same shape as ``QueueHarness``: the queue and its policy (no SQLite writer)."""

    queue: RedisJobQueue
    policy: QueuePolicy
    writer: None = None


@asynccontextmanager
async def open_redis_harness(
    policy: QueuePolicy, *, url: str | None = None, inline: bool = False
) -> AsyncIterator[RedisQueueHarness]:
    """A RedisJobQueue in a fresh namespace; its keys are deleted at exit.

    The contract suite runs on the Trio socket (``inline=False``), the production path: its
    tests hold no concurrent timers, so autojump has nowhere to jump during a Redis call. No
    reply timeout: under autojump a deadline would be reached as soon as the loop waits.
    """
    url = url if url is not None else shared_redis_server().url
    namespace = "{t-" + uuid.uuid4().hex[:12] + "}"
    async with open_redis_queue(
        url, policy, virtual_now, namespace=namespace, inline=inline, timeout_s=None
    ) as queue:
        try:
            yield RedisQueueHarness(queue, policy)
        finally:
            await queue.delete_namespace()

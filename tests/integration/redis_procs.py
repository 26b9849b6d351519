"""Subprocess bodies for the Redis crash tests (run as ``python -m tests.integration.redis_procs``).

``worker URL NS LEASE_S``: claims one ``scan`` job, prints ``CLAIMED <id>``, then hangs (the
test SIGKILLs it mid-job). ``leader URL KEY TTL_S``: contends for the leader lock; as leader it
appends its pid to ``KEY:log``, prints ``LEADER``, then holds the lock until killed.
"""

from __future__ import annotations

import os
import sys
import time

import trio

from finagent.adapters.redis.lock import RedisLeaderLock
from finagent.adapters.redis.queue import open_redis_queue
from finagent.adapters.redis.transport import open_redis_transport
from finagent.domain.jobs import QueuePolicy


async def worker(url: str, namespace: str, lease_s: float) -> None:
    policy = QueuePolicy(lease_s=lease_s, max_attempts=3)
    async with open_redis_queue(url, policy, time.time, namespace=namespace) as queue:
        owner = f"worker-{os.getpid()}"
        while not (jobs := await queue.claim(["scan"], 1, owner)):  # noqa: ASYNC110 - polls Redis
            await trio.sleep(0.01)
        print(f"CLAIMED {jobs[0].id}", flush=True)
        await trio.sleep_forever()


async def leader(url: str, key: str, ttl_s: float) -> None:
    async with open_redis_transport(url) as redis:
        lock = RedisLeaderLock(redis, key, ttl_s=ttl_s)

        async def on_leader() -> None:
            await redis.execute("RPUSH", f"{key}:log", os.getpid())
            print("LEADER", flush=True)
            await trio.sleep_forever()

        print("CONTENDING", flush=True)
        await lock.run(on_leader)


def main(argv: list[str]) -> None:
    mode, url, name, seconds = argv
    body = worker if mode == "worker" else leader
    trio.run(body, url, name, float(seconds))


if __name__ == "__main__":
    main(sys.argv[1:])

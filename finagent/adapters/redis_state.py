"""What several processes on one Redis queue must share besides the jobs.

- :func:`session_jobs`: a session's job trail (the daily report reads it) from the queue's job
  hashes, the Redis twin of the SQLite ``jobs WHERE key LIKE '%:<day>%'`` query.
- :func:`load_sim_anchor`: the simulated timeline (``sim_start + (wall - wall_start) x speed``)
  stored once with ``SET NX``, so every process of a ``feed: sim`` run (daemons and workers)
  follows the first one's clock, however late it started.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

from finagent.ports.trading import JobTrail

if TYPE_CHECKING:
    from finagent.adapters.redis_queue import RedisJobQueue

__all__ = ["load_sim_anchor", "session_jobs"]

_SCAN_COUNT = 1000


def _num(text: str | None) -> float | None:
    return None if text is None else float(text)


async def session_jobs(queue: RedisJobQueue, day: str) -> list[JobTrail]:
    """Every job (not yet pruned) whose key names session ``day`` (ISO date), oldest first."""
    client, ns = queue.client, queue.namespace

    def read() -> list[dict[str, str]]:
        ids = [
            job_id
            for _, job_id in client.hscan_iter(f"{ns}:keys", match=f"*:{day}*", count=_SCAN_COUNT)
        ]
        pipe = client.pipeline(transaction=False)
        for job_id in sorted(ids, key=int):
            pipe.hgetall(f"{ns}:job:{job_id}")
        return cast("list[dict[str, str]]", pipe.execute()) if ids else []

    trail = []
    for h in await queue.call(read):
        if not h:
            continue  # pruned between the scan and the read
        trail.append(
            JobTrail(
                h["type"],
                h["key"],
                h["status"],
                int(h["attempts"]),
                json.loads(h["payload"]),
                float(h["created_at"]),
                float(h["run_at"]),
                _num(h.get("finished_at")),
                h.get("last_error"),
            )
        )
    return trail


async def load_sim_anchor(
    queue: RedisJobQueue, wall_start: float, sim_start: float, speed: float
) -> tuple[float, float, float]:
    """The stored ``(wall_start, sim_start, speed)``, or store and return the given one."""
    key = f"{queue.namespace}:sim_anchor"
    value = json.dumps([wall_start, sim_start, speed])

    def load() -> str:
        queue.client.set(key, value, nx=True)
        return cast("str", queue.client.get(key))

    stored = json.loads(await queue.call(load))
    return float(stored[0]), float(stored[1]), float(stored[2])

"""What several processes on one Redis queue must share besides the jobs.

- :func:`session_jobs`: a session's job trail (the daily report reads it) from the queue's job
  hashes, the Redis twin of the SQLite ``jobs WHERE key LIKE '%:<day>%'`` query.
- :func:`load_sim_anchor`: the simulated timeline (``sim_start + (wall - wall_start) x speed``)
  stored once with ``SET NX``, so every process of a ``feed: sim`` run (daemons and workers)
  follows the first one's clock, however late it started. ``up`` checks it with
  :func:`read_sim_anchor` and drops it with :func:`clear_sim_anchor` (``--reset-timeline``).
- :func:`claim_epoch` / :func:`read_epoch`: the data epoch, a random id stored with ``SET NX``
  by the first process to start. Every process remembers it; a Redis whose epoch is missing or
  different (restarted without its data, flushed) no longer holds what finagent wrote.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from finagent.ports.trading import JobTrail

if TYPE_CHECKING:
    from finagent.adapters.redis.queue import RedisJobQueue

__all__ = [
    "claim_epoch",
    "clear_sim_anchor",
    "load_sim_anchor",
    "read_epoch",
    "read_sim_anchor",
    "session_jobs",
]

_SCAN_COUNT = 1000


def _num(text: str | None) -> float | None:
    return None if text is None else float(text)


async def session_jobs(queue: RedisJobQueue, day: str) -> list[JobTrail]:
    """Every job (not yet pruned) whose key names session ``day`` (ISO date), oldest first."""
    redis, ns = queue.transport, queue.namespace
    ids: list[int] = []
    cursor = "0"
    while True:
        cursor, flat = await redis.execute(
            "HSCAN", f"{ns}:keys", cursor, "MATCH", f"*:{day}*", "COUNT", _SCAN_COUNT
        )
        ids += (int(job_id) for job_id in flat[1::2])
        if cursor == "0":
            break
    rows = await redis.pipeline([("HGETALL", f"{ns}:job:{i}") for i in sorted(ids)])
    trail = []
    for flat in rows:
        h = dict(zip(flat[::2], flat[1::2], strict=True))
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
    _, stored_text = await queue.transport.pipeline([("SET", key, value, "NX"), ("GET", key)])
    stored = json.loads(stored_text)
    return float(stored[0]), float(stored[1]), float(stored[2])


async def read_sim_anchor(queue: RedisJobQueue) -> tuple[float, float, float] | None:
    """The stored ``(wall_start, sim_start, speed)``, or None when no process anchored one."""
    text = await queue.transport.execute("GET", f"{queue.namespace}:sim_anchor")
    if text is None:
        return None
    stored = json.loads(text)
    return float(stored[0]), float(stored[1]), float(stored[2])


async def clear_sim_anchor(queue: RedisJobQueue) -> bool:
    """Drop the stored timeline so the next process anchors a new one; True if there was one."""
    return bool(await queue.transport.execute("DEL", f"{queue.namespace}:sim_anchor"))


async def claim_epoch(queue: RedisJobQueue, epoch: str, wall: float) -> str:
    """The stored data epoch's id; stores ``epoch`` (first written at ``wall``) if none is."""
    key = f"{queue.namespace}:epoch"
    value = json.dumps({"id": epoch, "since": wall})
    _, stored = await queue.transport.pipeline([("SET", key, value, "NX"), ("GET", key)])
    return str(json.loads(stored)["id"])


async def read_epoch(queue: RedisJobQueue) -> str | None:
    """The stored data epoch's id, or None when Redis holds none (its data is gone)."""
    text = await queue.transport.execute("GET", f"{queue.namespace}:epoch")
    return None if text is None else str(json.loads(text)["id"])

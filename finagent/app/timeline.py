"""The simulated timeline's anchor where the daemon keeps it: the database, or Redis.

The daemon anchors its sim clock on its first start, so a restart continues the same
timeline; ``up --reset-timeline`` drops the anchor so new ``sim.speed``/``sim.start`` apply.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from finagent.adapters.redis.queue import open_redis_queue
from finagent.adapters.redis.state import clear_sim_anchor, read_sim_anchor
from finagent.adapters.sqlite.dbfile import hold_database
from finagent.adapters.sqlite.state import clear_anchor, read_anchor
from finagent.domain.jobs import QueuePolicy

if TYPE_CHECKING:
    from finagent.settings import Settings

__all__ = ["Anchor", "stored_anchor"]

#: ``(wall_start, sim_start, speed)``
Anchor = tuple[float, float, float]


def stored_anchor(settings: Settings, *, reset: bool) -> Anchor | None:
    """The stored anchor, or None when none is stored; ``reset`` drops it first.

    Raises:
        StorageError, QueueUnavailableError: the anchor's store cannot be read.
    """
    if settings.queue_backend == "redis":
        import trio

        return trio.run(_redis_anchor, settings, reset)
    # A running daemon's timeline is not ours to read or drop: its lock refuses us first.
    with hold_database(settings.db_path):
        if reset:
            clear_anchor(settings.db_path)
            return None
        found = read_anchor(settings.db_path)
    return None if found is None else (found.wall_start, found.sim_start, found.speed)


async def _redis_anchor(settings: Settings, reset: bool) -> Anchor | None:
    url = settings.redis.url.get_secret_value()
    async with open_redis_queue(url, QueuePolicy(1.0, 1), time.time) as queue:
        if reset:
            await clear_sim_anchor(queue)
            return None
        return await read_sim_anchor(queue)

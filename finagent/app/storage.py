"""The job database at start: its lock, integrity and identity, and the anchored sim clock.

Opens the SQLite trading store under the single-instance lock after ``PRAGMA quick_check``,
remembers the file's identity for the watch, halts trading when a new database appears beside
a broker that already holds our book, and anchors the simulated timeline in the database.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from finagent import __version__
from finagent.adapters.clocks import VirtualClock
from finagent.adapters.sqlite.dbfile import FileIdentity, check_integrity, hold_database
from finagent.adapters.sqlite.state import SimAnchor, SqliteTradingStore, set_control
from finagent.app.parts import broker_path
from finagent.app.redis_backend import open_redis_clock
from finagent.domain.errors import BrokerError

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AsyncExitStack

    from finagent.app.options import DaemonOptions
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.settings import Settings

__all__ = ["Before", "halt_if_history_lost", "open_clock", "open_job_store"]

log = logging.getLogger(__name__)


def _anchored_clock(store: SqliteTradingStore, settings: Settings) -> tuple[VirtualClock, float]:
    wall = time.time()
    start = settings.sim.start
    sim_start = datetime.fromisoformat(start).timestamp() if start else wall
    anchor = store.anchor(SimAnchor(wall, sim_start, settings.sim.speed))
    now = datetime.fromtimestamp(anchor.virtual(wall), UTC)
    log.info("sim timeline: %s at %gx (anchored in the database)", now.isoformat(), anchor.speed)
    return VirtualClock(now, speed=anchor.speed), anchor.speed


def _holder_note(settings: Settings) -> dict[str, object]:
    """Who holds the lock, for ``finagent status``: in the lock file, so it lives and dies
    with the lock (a row in the database would outlive a ``kill -9`` and read as running)."""
    return {
        "since": time.time(), "version": __version__, "feed": settings.feed,
        "broker": settings.broker, "queue_backend": settings.queue_backend,
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Before:
    """What was on disk before the daemon opened anything: is its database new, and the paper
    broker's not?"""

    new_db: bool
    paper_db: bool


def open_job_store(
    stack: AsyncExitStack, settings: Settings, metrics: Metrics
) -> tuple[SqliteTradingStore, FileIdentity, Before]:
    """Lock the database file, check its pages, open it and watch its identity.

    Raises:
        StoreError: in use by another process (``DatabaseInUseError``), corrupt, unusable.
    """
    s = settings
    # On Redis several processes share the file (the trading tables): a shared lock keeps a
    # SQLite-backed daemon away from them, and them from it.
    stack.enter_context(
        hold_database(s.db_path, exclusive=s.queue_backend != "redis", note=_holder_note(s))
    )
    paper = broker_path(s.db_path, s.paper.db_path)
    before = Before(
        new_db=not s.db_path.exists() or s.db_path.stat().st_size == 0,
        paper_db=s.broker == "paper" and paper.exists() and paper.stat().st_size > 0,
    )
    checked = check_integrity(s.db_path)
    if not checked.complete:
        log.warning(
            "database %s: quick_check stopped unfinished after %.1f s; the rest is unchecked",
            s.db_path, checked.seconds,
        )  # fmt: skip
    store = SqliteTradingStore.open(
        s.db_path, synchronous=s.sqlite.synchronous, busy_timeout_ms=s.sqlite.busy_timeout_ms
    )
    stack.callback(store.close)
    store.identity = identity = FileIdentity(s.db_path)
    store.observe = _commit_metrics(metrics)
    return store, identity, before


async def halt_if_history_lost(
    settings: Settings, before: Before, broker: Broker, metrics: Metrics
) -> None:
    """A new database beside a broker that already holds our book: halt until ``resume``.

    A lost database must not pass for a first start: the broker's orders and the paper
    broker's book would go on without the daemon's history of them.
    """
    if not before.new_db:
        return
    try:
        working = len(await broker.open_orders())
    except BrokerError as exc:  # reconciliation retries the broker; this check only warns
        log.warning("cannot list the broker's open orders at start: %s", exc)
        working = 0
    if not before.paper_db and working == 0:
        return
    s = settings
    found = (
        f"the paper broker's database {broker_path(s.db_path, s.paper.db_path)}"
        if before.paper_db
        else f"{working} open order(s) at the broker"
    )
    set_control(s.db_path, "halted", flatten=False, now=time.time())
    metrics.database_faults.labels("fresh_database").inc()
    log.error(
        "database %s is new but %s already exists: trading is halted until `finagent resume`"
        " (restore the old database if it was lost)",
        s.db_path, found,
    )  # fmt: skip


def _commit_metrics(metrics: Metrics) -> Callable[[int, float], None]:
    def observe(ops: int, seconds: float) -> None:
        metrics.sqlite_commit_batch_size.observe(ops)
        metrics.sqlite_commit_seconds.observe(seconds)

    return observe


async def open_clock(
    settings: Settings, options: DaemonOptions, store: SqliteTradingStore, metrics: Metrics
) -> tuple[VirtualClock, float]:
    """The run's clock and its speed: the simulator's, Redis's shared anchor, or the DB's.

    An anchored clock follows the system clock, as a restart would: a wall-clock step is
    logged, counted (``finagent_clock_steps_total``) and re-planned by every sleeper.
    """
    if options.clock:
        return options.clock, options.clock.speed
    if settings.queue_backend == "redis":
        clock, speed = await open_redis_clock(settings)
    else:
        clock, speed = _anchored_clock(store, settings)
    return clock.following(time.time, metrics.count_clock_step), speed

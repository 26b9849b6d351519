"""The daemon's running parts (what the supervision tree runs and a probe may read).

:func:`finagent.app.wiring.open_parts` builds them from settings.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias, final

import trio

from actors.events import ActorRestarted
from finagent.domain.market import Session
from finagent.services.db_watch import FatalStop

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import date
    from pathlib import Path

    from actors import ActorContext, Observer
    from actors.events import LifecycleEvent
    from finagent.adapters.clocks import VirtualClock
    from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
    from finagent.app.notify import NotifyParts
    from finagent.app.redis_backend import (
        QueueTrailRecords,
        RedisWatch,
    )
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.market import MarketData
    from finagent.ports.queue import DispatchQueue
    from finagent.services.broker_probe import BrokerProbe
    from finagent.services.db_watch import DatabaseWatch
    from finagent.services.dispatcher import Dispatcher
    from finagent.services.execution import Executor
    from finagent.services.flatten_guard import FlattenGuard
    from finagent.services.reporter import Reporter
    from finagent.services.scheduler import Scheduler
    from finagent.services.stage import Chaos, Stage, StageStats
    from finagent.services.trading_state import (
        TradingSwitch,
        TradingWatch,
        WriterRecords,
    )

__all__ = [
    "Actor",
    "CountingObserver",
    "DaemonProbe",
    "Parts",
    "broker_path",
    "sim_session_for",
]

log = logging.getLogger(__name__)

Actor: TypeAlias = "Callable[[ActorContext[object]], Awaitable[None]]"


@final
class CountingObserver:
    """Forwards lifecycle events and counts restarts per actor (for the simulate report)."""

    def __init__(self, inner: Observer) -> None:
        self._inner = inner
        self.restarts: dict[str, int] = {}
        self._listeners: list[Callable[[LifecycleEvent], None]] = []

    def listen(self, listener: Callable[[LifecycleEvent], None]) -> None:
        """Also call ``listener`` with every event (the dispatcher fails a crashed job)."""
        self._listeners.append(listener)

    def on_event(self, event: LifecycleEvent) -> None:
        """Count restarts, then forward."""
        if isinstance(event, ActorRestarted):
            self.restarts[event.name] = self.restarts.get(event.name, 0) + 1
        for listener in self._listeners:
            listener(event)
        self._inner.on_event(event)


@dataclass
class Parts:
    """Everything the supervision tree runs, and what a probe may inspect."""

    persistence: Actor
    queue: DispatchQueue
    records: WriterRecords | QueueTrailRecords
    dispatcher: Dispatcher
    dispatch: Actor
    stages: dict[str, Stage]
    watch: TradingWatch
    scheduler: Scheduler
    broker: Broker
    market: MarketData
    clock: VirtualClock
    switch: TradingSwitch
    executor: Executor
    reporter: Reporter
    chaos: Chaos | None
    stats: StageStats
    rng: Callable[[], float]
    metrics: Metrics
    restart_allowance: int = 0
    #: the scheduler's body: ``scheduler.run``, or under the leader lock on Redis
    scheduler_actor: Actor | None = None
    #: the Redis queue's lease recovery and pruning (None on SQLite: the writer does it)
    housekeeping: Actor | None = None
    #: watches the database file's identity (device, inode)
    db_watch: DatabaseWatch | None = None
    #: probes a remote broker for ``/readyz`` (None: the paper broker, in this process)
    broker_probe: BrokerProbe | None = None
    #: flattens at the broker at flatten time while degraded (the queue may be unusable)
    flatten_guard: FlattenGuard | None = None
    #: set by a fault the daemon cannot run through: it stops safely at the broker and exits
    fatal: FatalStop = field(default_factory=FatalStop)
    #: the Redis link and data-epoch watch (None on SQLite): ``/readyz``'s ``redis`` check
    redis_watch: RedisWatch | None = None
    #: live readiness checks by name (None: passing, else why not), re-evaluated every second
    live: dict[str, Callable[[], str | None]] = field(default_factory=dict)
    #: notifications: the notices every part emits, the notifier and its watch (when on)
    notify: NotifyParts | None = None


@dataclass
class DaemonProbe:
    """Filled by ``run_daemon`` once the tree runs: lets the simulator read the parts."""

    parts: Parts | None = None
    observer: CountingObserver | None = None
    started: trio.Event = field(default_factory=trio.Event)

    def attach(self, parts: Parts, observer: CountingObserver) -> None:
        """Record the running parts."""
        self.parts = parts
        self.observer = observer
        self.started.set()


def broker_path(db_path: Path, configured: Path | None = None) -> Path:
    """The paper broker's own database: ``paper.db_path``, else next to the job database."""
    return configured if configured is not None else db_path.with_name(db_path.stem + ".paper.db")


def sim_session_for(calendar: XcalsExchangeCalendar) -> Callable[[date], Session | None]:
    """The simulated market's sessions from the exchange calendar (holidays, early closes)."""

    @functools.lru_cache(maxsize=512)  # bounded: a daemon running for years asks every day
    def session_for(day: date) -> Session | None:
        found = calendar.sessions(day, day)
        return Session(day, found[0].open, found[0].close) if found else None

    return session_for

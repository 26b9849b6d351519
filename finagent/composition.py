"""The daemon's parts, built from settings: adapters, the writer, the dispatcher and the stages.

Split out of ``app.py`` (the composition root) to keep each module small; only ``app`` and the
CLI import it. Everything concrete is picked here: the SQLite store, the simulated market,
the paper broker, the exchange calendar and the clock.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeAlias, final

import trio

from actors.events import ActorRestarted
from finagent.adapters.clocks import VirtualClock
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.adapters.offload import InlineOffload, ThreadOffload
from finagent.adapters.sim.market import SimMarket
from finagent.adapters.sim.paper_broker import open_paper_broker
from finagent.adapters.sqlite.state import SimAnchor, SqliteTradingStore
from finagent.brokers import (
    AlpacaParts,
    ReconcilingExecution,
    open_alpaca,
    session_day,
    trail_book,
    uses_alpaca,
)
from finagent.composition_redis import (
    QueueTrailRecords,
    housekeeping_actor,
    leader_actor,
    open_redis_clock,
    open_redis_queue_for,
)
from finagent.domain.gaps import ScanRules
from finagent.domain.jobs import QueuePolicy
from finagent.domain.market import Session
from finagent.domain.planning import PlanRules
from finagent.domain.risk import RiskProfile
from finagent.domain.scoring import ScoreWeights
from finagent.services.dispatcher import Dispatcher
from finagent.services.execution import Executor
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest
from finagent.services.planner import Planner
from finagent.services.reporter import Reporter
from finagent.services.risk import RiskGuard
from finagent.services.routing import (
    DispatchQueue,
    NotifyingQueue,
    dispatcher_actor,
    trio_time_queue,
)
from finagent.services.scanner import Scanner
from finagent.services.scheduler import Scheduler
from finagent.services.scoring import Scoring
from finagent.services.stage import Chaos, JobHandler, Stage, StageStats
from finagent.services.trading_state import (
    StoredScheduleCursor,
    TradingSwitch,
    TradingWatch,
    WriterRecords,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
    from pathlib import Path

    from actors import ActorContext, Observer
    from actors.events import LifecycleEvent
    from finagent.adapters.redis.queue import RedisJobQueue
    from finagent.domain.schedule import Entry
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.market import MarketData
    from finagent.ports.news import News
    from finagent.settings import Settings

__all__ = [
    "CountingObserver",
    "DaemonProbe",
    "Parts",
    "broker_path",
    "open_parts",
    "sim_session_for",
]

log = logging.getLogger(__name__)

#: Trio seconds between two rounds of the Redis queue's housekeeping
HOUSEKEEPING_S = 1.0

Actor: TypeAlias = "Callable[[ActorContext[object]], Coroutine[Any, Any, None]]"

#: job type -> the stage actor that handles it
ROUTES = {
    "scan": "scanner",
    "score": "scoring",
    "plan": "planner",
    "risk": "risk",
    "execute": "execution",
    "time_stop": "execution",
    "flatten": "execution",
    "report": "reporter",
}


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
    cache: dict[date, Session | None] = {}

    def session_for(day: date) -> Session | None:
        if day not in cache:
            found = calendar.sessions(day, day)
            cache[day] = Session(day, found[0].open, found[0].close) if found else None
        return cache[day]

    return session_for


def _anchored_clock(store: SqliteTradingStore, settings: Settings) -> tuple[VirtualClock, float]:
    wall = time.time()
    start = settings.sim.start
    sim_start = datetime.fromisoformat(start).timestamp() if start else wall
    anchor = store.anchor(SimAnchor(wall, sim_start, settings.sim.speed))
    now = datetime.fromtimestamp(anchor.virtual(wall), UTC)
    log.info("sim timeline: %s at %gx (anchored in the database)", now.isoformat(), anchor.speed)
    return VirtualClock(now, speed=anchor.speed), anchor.speed


def _commit_metrics(metrics: Metrics) -> Callable[[int, float], None]:
    def observe(ops: int, seconds: float) -> None:
        metrics.sqlite_commit_batch_size.observe(ops)
        metrics.sqlite_commit_seconds.observe(seconds)

    return observe


def _node() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _profile(settings: Settings) -> RiskProfile:
    r = settings.risk
    return RiskProfile(
        risk_per_trade_pct=r.risk_per_trade_pct,
        max_open_positions=r.max_open_positions,
        max_notional_per_position=r.max_notional_per_position,
        max_gross_exposure=r.max_gross_exposure,
        max_daily_loss=r.max_daily_loss,
        max_orders_per_minute=r.max_orders_per_minute,
        allowed_sides=tuple(r.allowed_sides),
        pdt_equity_floor=r.pdt_equity_floor,
        enforce_pdt=r.enforce_pdt,
        starting_equity=r.starting_equity,
        min_price=settings.scan.min_price,
        max_price=settings.scan.max_price,
    )


def _persistence(
    writer: JobWriter, receive: trio.MemoryReceiveChannel[WriteRequest]
) -> Callable[[ActorContext[object]], Coroutine[Any, Any, None]]:
    async def persistence(ctx: ActorContext[object]) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.serve, receive)
            await ctx.stopping.wait()
            nursery.cancel_scope.cancel()

    return persistence


@asynccontextmanager
async def open_parts(
    settings: Settings, options: Any, metrics: Metrics, entries: Sequence[Entry]
) -> AsyncIterator[Parts]:
    """Open the store, queue, market, broker and clock; build the actors; close them on exit.

    ``options.services`` (None: every stage) names the stages to build: a worker's.
    """
    s = settings
    on_redis = s.queue_backend == "redis"
    async with AsyncExitStack() as stack:
        store = SqliteTradingStore.open(
            s.db_path, synchronous=s.sqlite.synchronous, busy_timeout_ms=s.sqlite.busy_timeout_ms
        )
        stack.callback(store.close)
        store.observe = _commit_metrics(metrics)
        if options.clock:
            clock, speed = options.clock, 1.0
        elif on_redis:
            clock, speed = await open_redis_clock(s)
        else:
            clock, speed = _anchored_clock(store, s)
        calendar = XcalsExchangeCalendar(s.exchange.calendar)
        alpaca: AlpacaParts | None = None
        if uses_alpaca(s):
            transport = getattr(options, "alpaca_transport", None)
            alpaca = await stack.enter_async_context(open_alpaca(s, metrics, transport=transport))
        # The scan's heavy CPU off the loop; inline in virtual time, like SQLite (trio #456).
        offload = InlineOffload() if options.inline else ThreadOffload()
        sim = SimMarket(
            symbols=s.sim.symbols, seed=s.sim.seed, session_for=sim_session_for(calendar),
            offload=offload,
        )  # fmt: skip
        market: MarketData = alpaca.market if alpaca and alpaca.market else sim
        news: News = alpaca.news if alpaca and alpaca.news else sim
        q = s.queue
        # Leases guard against a hung worker: real seconds, so virtual ones at speed N.
        policy = QueuePolicy(q.lease_s * speed, q.max_attempts, q.retry_base_s, q.retry_max_s)
        send, receive = trio.open_memory_channel[WriteRequest](1024)
        writer = JobWriter(
            store, policy, clock.timestamp, inline=options.inline, retain_done_s=q.retain_done_s
        )
        writer_records = WriterRecords(send)
        records: WriterRecords | QueueTrailRecords = writer_records
        redis_queue: RedisJobQueue | None = None
        queue: DispatchQueue
        if on_redis:
            redis_queue = await stack.enter_async_context(
                open_redis_queue_for(s, policy, clock.timestamp, inline=options.inline)
            )
            queue = notifying = NotifyingQueue(redis_queue)
            records = QueueTrailRecords(writer_records, redis_queue)
        else:
            queue = PersistentJobQueue(send)
        broker: Broker
        if alpaca is not None and alpaca.broker is not None:
            broker = alpaca.broker
        else:
            broker = await stack.enter_async_context(
                open_paper_broker(
                    broker_path(s.db_path, s.paper.db_path), market, clock,
                    slippage_bps=s.paper.slippage_bps,
                    commission_per_share=s.paper.commission_per_share,
                    starting_equity=s.risk.starting_equity,
                )
            )  # fmt: skip
        switch = TradingSwitch()
        chaos = Chaos(options.crash_rate, s.sim.seed) if options.crash_rate > 0 else None
        stats = StageStats()
        scan = s.scan
        rules = ScanRules(scan.min_gap_pct, scan.min_price, scan.max_price,
                          scan.min_premarket_volume, scan.min_relative_volume,
                          scan.max_candidates)  # fmt: skip
        p = s.plan
        plan_rules = PlanRules(p.range_minutes, p.stop_mode, p.atr_multiple, p.target_r,
                               p.time_stop_minutes, p.flatten_minutes_before_close)  # fmt: skip
        executor = Executor(broker, clock, switch, metrics)
        reporter = Reporter(broker, records)
        execution: JobHandler = executor
        if alpaca is not None and alpaca.broker is not None:
            today = session_day(clock.now, s.exchange.timezone)
            execution = ReconcilingExecution(
                executor, broker, trail_book(records, broker, today),
                s.alpaca.position_tolerance_shares,
            )  # fmt: skip
        handlers: dict[str, JobHandler] = {
            "scanner": Scanner(market, news, rules, clock, metrics, offload),
            "scoring": Scoring(ScoreWeights(), scan.max_candidates, p.range_minutes),
            "planner": Planner(market, plan_rules),
            "risk": RiskGuard(broker, _profile(s), clock, switch),
            "execution": execution,
            "reporter": reporter,
        }
        wanted = options.services
        stages = {
            name: Stage(h, queue, clock.timestamp, metrics=metrics, chaos=chaos, stats=stats,
                        check=False)
            for name, h in handlers.items()
            if wanted is None or name in wanted
        }  # fmt: skip
        routes = {job_type: actor for job_type, actor in ROUTES.items() if actor in stages}
        idle = 3600.0 if options.inline and not on_redis else None  # inline: wake = commit
        dispatcher = Dispatcher(
            trio_time_queue(queue, clock.trio_deadline), trio.current_time, node=_node(),
            poll_s=idle or q.poll_s, poll_max_s=idle or q.poll_max_s,
        )  # fmt: skip
        if redis_queue is None:
            writer.listen(dispatcher.on_commit)
        else:
            notifying.listen(dispatcher.on_commit)
        dispatch = dispatcher_actor(dispatcher, routes, queue, metrics)
        watch = TradingWatch(switch, writer_records, queue, broker, clock, metrics=metrics)
        scheduler = Scheduler(
            entries, calendar, clock, queue, cursor=StoredScheduleCursor(writer_records),
            on_skipped=lambda entry, _: metrics.schedule_skipped.labels(entry.name).inc(),
        )  # fmt: skip
        rng = random.Random(f"supervision:{s.sim.seed}").random
        parts = Parts(
            _persistence(writer, receive), queue, records, dispatcher, dispatch, stages,
            watch, scheduler,
            broker, market, clock, switch, executor, reporter, chaos, stats, rng, metrics,
            restart_allowance=10_000 if chaos is not None else 0,
        )  # fmt: skip
        if redis_queue is not None:
            parts.scheduler_actor = leader_actor(redis_queue, scheduler.run)
            parts.housekeeping = housekeeping_actor(
                redis_queue, every_s=HOUSEKEEPING_S, retain_done_s=q.retain_done_s
            )
        yield parts

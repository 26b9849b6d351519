"""Open the daemon's parts from settings: one small opener per adapter, then the actors.

Everything concrete is picked here: the SQLite store, the queue (SQLite or Redis), the
market and news (simulated or Alpaca), the broker (paper or Alpaca), the exchange calendar
and the clock. :func:`open_parts` opens them in order and closes them in reverse on exit.
"""

from __future__ import annotations

import logging
import random
from contextlib import AsyncExitStack, asynccontextmanager, closing
from typing import TYPE_CHECKING

from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.adapters.offload import InlineOffload, ThreadOffload
from finagent.adapters.replay.market import ReplayMarket
from finagent.adapters.replay.store import open_store
from finagent.adapters.sim.market import SimMarket
from finagent.adapters.sim.paper_broker import open_paper_broker
from finagent.app.alpaca import AlpacaParts, open_alpaca, uses_alpaca
from finagent.app.live_checks import degrade_on_fault, store_checks
from finagent.app.notify import notify_parts
from finagent.app.parts import Parts, broker_path, sim_session_for
from finagent.app.queueing import build_dispatcher, open_queue
from finagent.app.redis_backend import QueueTrailRecords, housekeeping_actor, leader_actor
from finagent.app.rules import plan_rules, risk_profile, scan_rules
from finagent.app.storage import halt_if_history_lost, open_clock, open_job_store
from finagent.domain.jobs import QueuePolicy
from finagent.domain.notify import Notice
from finagent.domain.scoring import ScoreWeights
from finagent.services.broker_probe import BrokerProbe
from finagent.services.counting import CountingQueue
from finagent.services.db_watch import DatabaseWatch
from finagent.services.execution import Executor
from finagent.services.flatten_guard import FlattenGuard
from finagent.services.market_hours import MarketHours
from finagent.services.planner import Planner
from finagent.services.reconciliation import ReconcilingExecution, session_day, trail_book
from finagent.services.reporter import Reporter
from finagent.services.risk import RiskGuard
from finagent.services.routing import ROUTES, dispatcher_actor
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
    from collections.abc import AsyncIterator, Callable, Sequence
    from datetime import datetime

    from finagent.adapters.clocks import VirtualClock
    from finagent.app.options import DaemonOptions
    from finagent.domain.schedule import Entry
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.compute import Offload
    from finagent.ports.market import MarketData
    from finagent.ports.news import News
    from finagent.services.notifier import Notices
    from finagent.settings import Settings

__all__ = ["HOUSEKEEPING_S", "offload_for", "open_feeds", "open_parts"]

log = logging.getLogger(__name__)

#: Trio seconds between two rounds of the Redis queue's housekeeping
HOUSEKEEPING_S = 1.0


async def open_feeds(
    stack: AsyncExitStack,
    settings: Settings,
    options: DaemonOptions,
    metrics: Metrics,
    calendar: XcalsExchangeCalendar,
    offload: Offload | None = None,
) -> tuple[MarketData, News, AlpacaParts | None]:
    """Market data and news: Alpaca's where the settings ask for it, else the simulator's.

    ``offload`` runs the simulator's heavy CPU (None: :func:`offload_for` the options).
    """
    alpaca: AlpacaParts | None = None
    if uses_alpaca(settings):
        alpaca = await stack.enter_async_context(
            open_alpaca(settings, metrics, transport=options.alpaca_transport)
        )
    s = settings.sim
    sim = SimMarket(
        symbols=s.symbols, seed=s.seed, session_for=sim_session_for(calendar),
        offload=offload or offload_for(options),
    )  # fmt: skip
    market: MarketData = alpaca.market if alpaca and alpaca.market else sim
    news: News = alpaca.news if alpaca and alpaca.news else sim
    if settings.feed == "replay":  # recorded days (backtests); the store is opened read-only
        store = stack.enter_context(closing(open_store(settings.replay.path)))
        market = news = ReplayMarket(store, sim_session_for(calendar))
    return market, news, alpaca


async def _open_broker(
    stack: AsyncExitStack,
    settings: Settings,
    alpaca: AlpacaParts | None,
    market: MarketData,
    clock: VirtualClock,
) -> Broker:
    """Alpaca's broker where the settings ask for it, else the paper broker on its own DB."""
    if alpaca is not None and alpaca.broker is not None:
        return alpaca.broker
    s = settings
    return await stack.enter_async_context(
        open_paper_broker(
            broker_path(s.db_path, s.paper.db_path), market, clock,
            slippage_bps=s.paper.slippage_bps, commission_per_share=s.paper.commission_per_share,
            starting_equity=s.risk.starting_equity,
        )
    )  # fmt: skip


def offload_for(options: DaemonOptions) -> Offload:
    """The scan's heavy CPU off the loop; inline in virtual time, like SQLite (trio #456)."""
    return InlineOffload() if options.inline else ThreadOffload()


def _handlers(
    settings: Settings,
    market: MarketData,
    news: News,
    broker: Broker,
    clock: VirtualClock,
    switch: TradingSwitch,
    records: WriterRecords | QueueTrailRecords,
    metrics: Metrics,
    offload: Offload,
    notices: Notices,
) -> tuple[dict[str, JobHandler], Executor, Reporter]:
    """Every stage's handler by actor name, with the executor and reporter for the probe."""
    s = settings
    executor = Executor(broker, clock, switch, metrics, notices=notices)
    gap = records.trail_gap if isinstance(records, QueueTrailRecords) else None
    reporter = Reporter(broker, records, trail_gap=gap, notices=notices, metrics=metrics)
    # Every broker, the paper one too, is reconciled before execution sends anything.
    today = session_day(clock.now, s.exchange.timezone)
    execution = ReconcilingExecution(
        executor, broker, trail_book(records, broker, today), s.alpaca.position_tolerance_shares
    )
    handlers: dict[str, JobHandler] = {
        "scanner": Scanner(market, news, scan_rules(s), clock, metrics, offload),
        "scoring": Scoring(ScoreWeights(), s.scan.max_candidates, s.plan.range_minutes),
        "planner": Planner(market, plan_rules(s)),
        "risk": RiskGuard(broker, risk_profile(s), clock, switch),
        "execution": execution,
        "reporter": reporter,
    }
    return handlers, executor, reporter


def _on_skipped(metrics: Metrics, notices: Notices) -> Callable[[Entry, datetime], None]:
    def skipped(entry: Entry, fire_time: datetime) -> None:
        metrics.schedule_skipped.labels(entry.name).inc()
        notices.emit(Notice.schedule_skipped(entry.name, fire_time.isoformat()))

    return skipped


@asynccontextmanager
async def open_parts(
    settings: Settings, options: DaemonOptions, metrics: Metrics, entries: Sequence[Entry]
) -> AsyncIterator[Parts]:
    """Open the store, queue, market, broker and clock; build the actors; close them on exit.

    ``options.services`` (None: every stage) names the stages to build: a worker's.
    """
    s = settings
    async with AsyncExitStack() as stack:
        store, identity, before = open_job_store(stack, s, metrics)
        clock, speed = await open_clock(s, options, store, metrics)
        calendar = XcalsExchangeCalendar(s.exchange.calendar)
        offload = offload_for(options)
        market, news, alpaca = await open_feeds(stack, s, options, metrics, calendar, offload)
        qs = s.queue
        # Leases guard against a hung worker: real seconds, so virtual ones at speed N.
        policy = QueuePolicy(qs.lease_s * speed, qs.max_attempts, qs.retry_base_s, qs.retry_max_s)
        q = await open_queue(stack, s, options, store, policy, clock)
        # Every enqueue (scheduler, halt's flatten, stage outputs) counted once, here.
        q.queue = CountingQueue(q.queue, metrics.count_enqueued, clock.timestamp)
        broker = await _open_broker(stack, s, alpaca, market, clock)
        await halt_if_history_lost(s, before, broker, metrics)
        switch = TradingSwitch()
        chaos = Chaos(options.crash_rate, s.sim.seed) if options.crash_rate > 0 else None
        stats = StageStats()
        notify = notify_parts(
            s, q.queue, broker, clock, metrics, virtual=options.inline, speed=speed
        )
        handlers, executor, reporter = _handlers(
            s,
            market,
            news,
            broker,
            clock,
            switch,
            q.records,
            metrics,
            offload,
            notify.notices,
        )
        stages = {
            name: Stage(h, q.queue, clock.timestamp, metrics=metrics, chaos=chaos, stats=stats)
            for name, h in handlers.items()
            if options.services is None or name in options.services
        }  # fmt: skip
        if notify.notifier is not None and (
            options.services is None or "notifier" in options.services
        ):
            stages["notifier"] = Stage(notify.notifier, q.queue, clock.timestamp, metrics=metrics)
        routes = {job_type: actor for job_type, actor in ROUTES.items() if actor in stages}
        dispatcher = build_dispatcher(s, options, q, clock)
        scheduler = Scheduler(
            entries, calendar, clock, q.queue, cursor=StoredScheduleCursor(q.writer_records),
            on_skipped=_on_skipped(metrics, notify.notices),
        )  # fmt: skip
        parts = Parts(
            q.persistence, q.queue, q.records, dispatcher,
            dispatcher_actor(
                dispatcher, routes, q.queue, metrics, stats_s=max(15.0, options.beat_s)
            ),
            stages,
            TradingWatch(
                switch, q.writer_records, q.queue, broker, clock, metrics=metrics,
                acks=q.writer_records, notices=notify.notices, market_hours=MarketHours(calendar),
                poll_s=options.beat_s,
            ),
            scheduler, broker, market, clock, switch, executor, reporter, chaos, stats,
            random.Random(f"supervision:{s.sim.seed}").random, metrics,
            restart_allowance=10_000 if chaos is not None else 0,
        )  # fmt: skip
        parts.notify = notify
        parts.db_watch = DatabaseWatch(
            identity, switch, parts.fatal, metrics=metrics, poll_s=options.beat_s
        )
        parts.flatten_guard = FlattenGuard(
            switch, broker, calendar, clock, metrics=metrics,
            minutes_before_close=s.plan.flatten_minutes_before_close,
        )  # fmt: skip
        degrade_on_fault(q.writer.health, parts.watch, metrics)
        parts.live.update(store_checks(q.writer.health, q.backlog))
        if s.broker != "paper":  # a remote broker: /readyz says whether it answers
            parts.broker_probe = BrokerProbe(broker)
            parts.live["broker_reachable"] = parts.broker_probe.check
        if q.redis is not None:
            parts.scheduler_actor = leader_actor(q.redis, scheduler.run)
            parts.housekeeping = housekeeping_actor(
                q.redis, every_s=HOUSEKEEPING_S, retain_done_s=qs.retain_done_s, watch=q.watch
            )
        if q.watch is not None:  # Redis came back empty: degraded (no new entries) until restart
            q.watch.on_lost(parts.watch.on_held)
            parts.redis_watch = q.watch
        yield parts

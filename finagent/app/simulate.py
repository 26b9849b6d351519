"""``finagent simulate``: the real daemon on the simulated market, in virtual time.

The same ``app.run_daemon`` wiring and actors as ``finagent up``, under a Trio ``MockClock``
(autojump for ``--speed max``, ``rate=N`` otherwise) with SQLite inline (trio #456), from
before the pre-market scan until the daily report after the close.
"""

from __future__ import annotations

import math
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

from finagent.adapters.clocks import VirtualClock
from finagent.app.daemon import DaemonOptions, run_daemon
from finagent.app.parts import DaemonProbe
from finagent.domain.errors import FinagentError

if TYPE_CHECKING:
    from finagent.domain.schedule import Session
    from finagent.ports.calendar import ExchangeCalendar
    from finagent.settings import Settings

__all__ = ["SimulationError", "find_session", "replay_gaps_of", "run_simulation"]

_LEAD = timedelta(minutes=35)  # start before the pre-market scan (open - 30m)
_TAIL = timedelta(minutes=10)  # the report runs at close + 5m


class SimulationError(FinagentError):
    """The simulation cannot run as asked (e.g. a holiday); one line."""


def find_session(calendar: ExchangeCalendar, day: date | None, today: date) -> Session:
    """The session on ``day``, or the next session after ``today``."""
    if day is not None:
        found = calendar.sessions(day, day)
        if not found:
            raise SimulationError(f"{day.isoformat()} is not a trading session on {calendar.name}")
        return found[0]
    upcoming = calendar.sessions(today + timedelta(days=1), today + timedelta(days=14))
    return upcoming[0]


def replay_gaps_of(market: object) -> dict[str, list[str]]:
    """``{"replay_gaps": [...]}`` when the feed is a replay with data gaps (backtests), else {}."""
    gaps = getattr(market, "gaps", None)
    return {"replay_gaps": list(gaps)} if gaps else {}


def _percentile(samples: list[float], q: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def run_simulation(
    settings: Settings,
    session: Session,
    *,
    speed: float | None = None,
    crash_rate: float = 0.0,
    progress: bool = False,
    beat_s: float = 1.0,
) -> dict[str, object]:
    """Simulate one session; returns the report (see ``docs/pipeline.md``).

    ``beat_s``: the daemon's watch loops' period (``DaemonOptions.beat_s``).
    """
    clock = (
        trio.testing.MockClock(autojump_threshold=0)
        if speed is None
        else trio.testing.MockClock(rate=speed)
    )
    wall = time.perf_counter()
    report = trio.run(_simulate, settings, session, crash_rate, progress, beat_s, clock=clock)
    report["wall_s"] = round(time.perf_counter() - wall, 3)
    return report


async def _simulate(
    settings: Settings, session: Session, crash_rate: float, progress: bool, beat_s: float
) -> dict[str, object]:
    vclock = VirtualClock(session.open - _LEAD)
    probe = DaemonProbe()
    options = DaemonOptions(
        clock=vclock, inline=True, crash_rate=crash_rate, probe=probe, beat_s=beat_s
    )
    stop = trio.Event()
    day = session.date.isoformat()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: run_daemon(settings, options, stop=stop, task_status=task_status)
        )
        parts, observer = probe.parts, probe.observer
        assert parts is not None and observer is not None
        progress_scope = trio.CancelScope()
        if progress:
            nursery.start_soon(_progress, probe, progress_scope)
        await vclock.sleep_until(session.close + _TAIL)
        report: dict[str, Any] | None = None  # JSON, read by key below
        for _ in range(120):  # the report may be retried after an injected crash
            found = await parts.records.report(day)
            if found is not None:
                report = dict(found)
                break
            await vclock.sleep_until(vclock.now() + timedelta(minutes=1))
        if report is None:
            report = await parts.reporter.report(day)
        trail = await parts.records.session_jobs(day)
        progress_scope.cancel()
        stop.set()
    if progress:
        print(file=sys.stderr)
    samples = parts.stats.samples
    report.update(replay_gaps_of(parts.market))
    report.update(
        seed=settings.sim.seed,
        symbols=settings.sim.symbols,
        lost_jobs=sum(1 for t in trail if t.status != "done"),
        # duplicate_orders: the report's, counted from the paper broker's orders table
        restarts=sum(observer.restarts.values()),
        restarts_by_actor=dict(sorted(observer.restarts.items())),
        crashes_injected=parts.chaos.crashes if parts.chaos else 0,
        job_latency_ms={
            "p50": round(_percentile(samples, 0.5) * 1000, 3),
            "p99": round(_percentile(samples, 0.99) * 1000, 3),
        },
    )
    return report


async def _progress(probe: DaemonProbe, scope: trio.CancelScope) -> None:
    parts = probe.parts
    assert parts is not None
    with scope:
        while True:
            account = await parts.broker.account()
            orders = len(await parts.broker.open_orders())
            now = parts.clock.now().astimezone(UTC)
            print(
                f"\r{now:%Y-%m-%d %H:%M} UTC  jobs {parts.dispatcher.dispatched:>5}"
                f"  open orders {orders:>3}  P&L {account.day_pnl:>10}",
                end="",
                file=sys.stderr,
                flush=True,
            )
            await parts.clock.sleep_until(parts.clock.now() + timedelta(minutes=5))


def today_utc() -> date:
    """Today's date (UTC): the default simulation runs the next session after it."""
    return datetime.now(UTC).date()

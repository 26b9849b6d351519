"""``finagent backtest``: recorded sessions replayed through the daemon, one after the other.

Each session is ``finagent simulate``'s run (the real daemon under a ``MockClock``, the
durable queue, crash injection) with ``feed: replay``: the scan, the plans and the paper
broker's fills all read the recorded store. Sessions are independent (fresh databases, the same
starting equity), so a day's result does not depend on the days before it.
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finagent.adapters.replay.store import open_store
from finagent.app.exchange import exchange_calendar
from finagent.app.simulate import run_simulation
from finagent.domain.backtest import (
    DayResult,
    drawdowns,
    equity_curve,
    summarize_days,
    trade_nets,
)
from finagent.domain.money import ZERO, dec, money

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from datetime import date

    from finagent.domain.schedule import Session
    from finagent.settings import Settings

__all__ = ["BEAT_S", "BacktestResult", "html_report", "run_backtest"]

# The daemon's watch loops (kill switch, database file, watchdog, live checks) every virtual
# minute instead of every second: a session's throwaway database has no operator, and a
# second-by-second beat through 7.25 virtual hours was most of a session's cost
# (docs/benchmarks.md, "Backtest"). Orders and fills do not depend on it: the paper broker
# fills from the bars, whenever it is asked.
BEAT_S = 300.0


@dataclass
class BacktestResult:
    """Per-session results, the skipped days and the summary (``as_json`` is the stable form)."""

    days: list[DayResult] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    equity: Decimal = ZERO
    wall_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """Stable keys, no wall time: the same data and settings give the same bytes."""
        s = summarize_days(self.days, self.equity)
        return {
            "sessions": s.sessions,
            "skipped": self.skipped,
            "trades": s.trades,
            "wins": s.wins,
            "hit_rate": None if s.hit_rate is None else str(s.hit_rate),
            "net_pnl": str(s.net_pnl),
            "max_drawdown": str(s.max_drawdown),
            "sharpe": s.sharpe,
            "sortino": s.sortino,
            "profit_factor": s.profit_factor,
            "average_exposure": s.average_exposure,
            "starting_equity": str(self.equity),
            "days": [
                {
                    "date": d.date,
                    "trades": len(d.trade_nets),
                    "net_pnl": str(d.net_pnl),
                    "fills": r["fills"],
                    "orders": r["orders"],
                }
                for d, r in zip(self.days, self.reports, strict=True)
            ],
        }


def run_backtest(
    settings: Settings,
    start: date,
    end: date,
    *,
    crash_rate: float = 0.0,
    jobs: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
) -> BacktestResult:
    """Replay every session from ``start`` to ``end`` found in the store; list the others.

    ``jobs`` > 1 replays that many sessions at once, each in a worker process (they are
    independent); the result is the same, byte for byte, whatever ``jobs`` is. ``progress``
    is told ``(done, total, day)``: the day about to run (one job) or just finished (jobs).
    """
    wall = time.perf_counter()
    sessions = exchange_calendar(settings.exchange.calendar).sessions(start, end)
    store = open_store(settings.replay.path)
    try:
        recorded = set(store.dates())
    finally:
        store.close()
    equity = money(dec(settings.risk.starting_equity))
    out = BacktestResult(equity=equity)
    cps = dec(settings.paper.commission_per_share)
    todo = [s for s in sessions if s.date in recorded]
    tell = _Progress(progress, len(sessions), len(sessions) - len(todo))
    # What is loaded by now (the daemon's modules, pandas under the calendar) lives for the
    # whole run: out of the collector's full passes, which otherwise walk it ~every 4
    # sessions (~0.1 s each; docs/benchmarks.md, "Backtest").
    gc.freeze()
    try:
        with _ctrl_c_between_sessions() as interrupted:
            if jobs > 1 and len(todo) > 1:
                reports = _in_workers(settings, todo, crash_rate, jobs, tell, interrupted)
            else:
                reports = {}
                for session in todo:
                    tell.starting(session.date.isoformat())
                    reports[session.date] = _replay(settings, session, crash_rate)
                    tell.done()
                    interrupted()
    finally:
        gc.unfreeze()
    tell.finished()
    for session in sessions:
        day = session.date.isoformat()
        report = reports.get(session.date)
        if report is None:
            out.skipped.append({"date": day, "reason": "no data in the store"})
            continue
        if report.get("replay_gaps"):
            out.skipped.append({"date": day, "reason": report["replay_gaps"][0]})
            continue
        entered = sum(
            (Decimal(o["filled_price"]) * int(o["qty"]) for o in report["orders"]
             if o.get("filled_price") is not None),
            ZERO,
        )  # fmt: skip
        nets = tuple(trade_nets(report["orders"], cps))
        out.days.append(DayResult(day, len(report["orders"]), nets, entered))
        out.reports.append(report)
    out.wall_s = round(time.perf_counter() - wall, 3)
    return out


@dataclass
class _Progress:
    """Sessions done out of all (the days without data count as done from the start)."""

    show: Callable[[int, int, str], None] | None
    total: int
    count: int

    def starting(self, day: str) -> None:
        if self.show is not None:
            self.show(self.count, self.total, day)

    def done(self, day: str | None = None) -> None:
        self.count += 1
        if day is not None:
            self.starting(day)

    def finished(self) -> None:
        self.starting("")


@contextmanager
def _ctrl_c_between_sessions() -> Iterator[Callable[[], None]]:
    """Ctrl-C stops the run between two sessions: the one running ends, then the check raises
    ``KeyboardInterrupt`` (outside Trio, so no actor is torn down half-way and logs a crash).
    """
    if threading.current_thread() is not threading.main_thread():  # no signals off main
        yield lambda: None
        return
    pressed: list[int] = []
    # Trio leaves a SIGINT handler that is not Python's default alone.
    previous = signal.signal(signal.SIGINT, lambda signum, _: pressed.append(signum))

    def check() -> None:
        if pressed:
            raise KeyboardInterrupt

    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)


def _in_workers(
    settings: Settings,
    todo: Sequence[Session],
    crash_rate: float,
    jobs: int,
    tell: _Progress,
    interrupted: Callable[[], None],
) -> dict[date, dict[str, Any]]:
    """Each session in a worker process.

    Forked where the platform can (Linux): the workers start at once and share this
    process's loaded modules (frozen above, so the collector does not copy their pages);
    "spawn" elsewhere.
    """
    reports: dict[date, dict[str, Any]] = {}
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    pool = ProcessPoolExecutor(
        min(jobs, len(todo)), mp_context=context, initializer=_leave_ctrl_c_to_the_parent
    )
    try:
        tell.starting(todo[0].date.isoformat())
        for session, report in zip(
            todo, pool.map(_replay, repeat(settings), todo, repeat(crash_rate)), strict=True
        ):
            reports[session.date] = report
            tell.done(session.date.isoformat())
            interrupted()
    finally:
        # Ctrl-C (or an error): the sessions running end, the queued ones never start.
        pool.shutdown(wait=True, cancel_futures=True)
    return reports


def _leave_ctrl_c_to_the_parent() -> None:
    """A worker ignores SIGINT: the parent stops the pool (a terminal sends it to all)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _replay(settings: Settings, session: Session, crash_rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="finagent-bt-") as tmp:
        patched = settings.model_copy(
            update={
                "feed": "replay",
                "db_path": Path(tmp) / "bt.db",
                "paper": settings.paper.model_copy(update={"db_path": None}),
                "metrics": settings.metrics.model_copy(update={"enabled": False}),
            }
        )
        return run_simulation(patched, session, crash_rate=crash_rate, beat_s=BEAT_S)


def html_report(result: BacktestResult, path: Path) -> None:
    """The equity curve and drawdown as one self-contained HTML file (plotly embedded)."""
    import plotly.graph_objects as go  # the optional extra: finagent[backtest]
    from plotly.subplots import make_subplots

    dates = [d.date for d in result.days]
    curve = equity_curve(result.days, result.equity)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05,
        subplot_titles=("Equity", "Drawdown"),
    )  # fmt: skip
    fig.add_trace(go.Scatter(x=dates, y=[float(v) for v in curve], name="equity"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=dates, y=[float(v) for v in drawdowns(curve)], name="drawdown",
                   fill="tozeroy", line={"color": "firebrick"}),
        row=2, col=1,
    )  # fmt: skip
    s = result.as_json()
    fig.update_layout(
        title=(
            f"finagent backtest: {s['sessions']} sessions, {s['trades']} trades, "
            f"net P&L {s['net_pnl']}, max drawdown {s['max_drawdown']}, Sharpe {s['sharpe']}"
        ),
        showlegend=False,
    )
    path.write_text(fig.to_html(include_plotlyjs=True, full_html=True), encoding="utf-8")


def _stderr_progress(done: int, total: int, day: str) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {day}", end="",
          file=sys.stderr, flush=True)  # fmt: skip

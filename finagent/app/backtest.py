"""``finagent backtest``: recorded sessions replayed through the daemon, one after the other.

Each session is ``finagent simulate``'s run (the real daemon under a ``MockClock``, the
durable queue, crash injection) with ``feed: replay``: the scan, the plans and the paper
broker's fills all read the recorded store. Sessions are independent (fresh databases, the same
starting equity), so a day's result does not depend on the days before it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
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
    from collections.abc import Callable
    from datetime import date

    from finagent.settings import Settings

__all__ = ["BacktestResult", "html_report", "run_backtest"]


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
    progress: Callable[[int, int, str], None] | None = None,
) -> BacktestResult:
    """Replay every session from ``start`` to ``end`` found in the store; list the others."""
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
    for i, session in enumerate(sessions):
        day = session.date.isoformat()
        if progress is not None:
            progress(i, len(sessions), day)
        if session.date not in recorded:
            out.skipped.append({"date": day, "reason": "no data in the store"})
            continue
        report = _replay(settings, session, crash_rate)
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
    if progress is not None:
        progress(len(sessions), len(sessions), "")
    out.wall_s = round(time.perf_counter() - wall, 3)
    return out


def _replay(settings: Settings, session: Any, crash_rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="finagent-bt-") as tmp:
        patched = settings.model_copy(
            update={
                "feed": "replay",
                "db_path": Path(tmp) / "bt.db",
                "paper": settings.paper.model_copy(update={"db_path": None}),
                "metrics": settings.metrics.model_copy(update={"enabled": False}),
            }
        )
        return run_simulation(patched, session, crash_rate=crash_rate)


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

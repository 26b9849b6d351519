"""Backtest metrics over per-session results: pure functions (definitions in docs/backtest.md).

Sessions are independent: each starts from the same equity (no compounding), so a day's return
is its net P&L over the starting equity and the equity curve is that equity plus the running
sum of daily net P&L.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from finagent.domain.money import ZERO, money
from finagent.domain.report import max_drawdown

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "TRADING_DAYS",
    "DayResult",
    "Summary",
    "daily_returns",
    "drawdowns",
    "equity_curve",
    "profit_factor",
    "sharpe",
    "sortino",
    "summarize_days",
    "trade_nets",
]

TRADING_DAYS = 252


@dataclass(frozen=True, slots=True)
class DayResult:
    """One replayed session: its orders and its trades' net P&L (after commission)."""

    date: str
    orders: int
    trade_nets: tuple[Decimal, ...]
    entered_notional: Decimal

    @property
    def net_pnl(self) -> Decimal:
        """The session's net P&L."""
        return money(sum(self.trade_nets, ZERO))


@dataclass(frozen=True, slots=True)
class Summary:
    """The whole backtest's figures."""

    sessions: int
    trades: int
    wins: int
    hit_rate: Decimal | None
    net_pnl: Decimal
    max_drawdown: Decimal
    sharpe: float | None
    sortino: float | None
    profit_factor: float | None
    average_exposure: float


def trade_nets(orders: Sequence[Mapping[str, Any]], commission_per_share: Decimal) -> list[Decimal]:
    """Each closed order's P&L after commission on both fills, in order."""
    out: list[Decimal] = []
    for o in orders:
        if o.get("filled_price") is None or o.get("exit_price") is None:
            continue
        sign = 1 if o["side"] == "long" else -1
        qty = int(o["qty"])
        gross = (Decimal(o["exit_price"]) - Decimal(o["filled_price"])) * qty * sign
        out.append(money(gross - money(commission_per_share * qty) * 2))
    return out


def daily_returns(days: Sequence[DayResult], equity: Decimal) -> list[float]:
    """Each session's net P&L over the starting equity."""
    return [float(d.net_pnl / equity) for d in days]


def sharpe(returns: Sequence[float]) -> float | None:
    """Annualized Sharpe ratio of daily returns (risk-free 0); None under 2 days or no spread."""
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if var <= 0:
        return None
    return round(mean / math.sqrt(var) * math.sqrt(TRADING_DAYS), 4)


def sortino(returns: Sequence[float]) -> float | None:
    """Annualized Sortino ratio: mean over the downside deviation (target 0); None without loss."""
    if len(returns) < 2:
        return None
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    if downside <= 0:
        return None
    return round(sum(returns) / len(returns) / downside * math.sqrt(TRADING_DAYS), 4)


def profit_factor(nets: Sequence[Decimal]) -> float | None:
    """Gross profit of winning trades over gross loss of losing ones; None without a loss."""
    won = sum((n for n in nets if n > 0), ZERO)
    lost = -sum((n for n in nets if n < 0), ZERO)
    return round(float(won / lost), 4) if lost > 0 else None


def equity_curve(days: Sequence[DayResult], equity: Decimal) -> list[Decimal]:
    """Equity at each session's close: the starting equity plus the running net P&L."""
    out: list[Decimal] = []
    for d in days:
        equity += d.net_pnl
        out.append(equity)
    return out


def drawdowns(curve: Sequence[Decimal]) -> list[Decimal]:
    """How far each point of an equity curve is below its running peak (<= 0)."""
    out: list[Decimal] = []
    peak: Decimal | None = None
    for value in curve:
        peak = value if peak is None else max(peak, value)
        out.append(value - peak)
    return out


def summarize_days(days: Sequence[DayResult], equity: Decimal) -> Summary:
    """The backtest's summary over its replayed sessions (skipped days are not in ``days``)."""
    nets = [n for d in days for n in d.trade_nets]
    wins = sum(1 for n in nets if n > 0)
    returns = daily_returns(days, equity)
    exposure = [float(d.entered_notional / equity) for d in days]
    return Summary(
        sessions=len(days),
        trades=len(nets),
        wins=wins,
        hit_rate=(Decimal(wins) / len(nets)).quantize(Decimal("0.0001")) if nets else None,
        net_pnl=money(sum((d.net_pnl for d in days), ZERO)),
        max_drawdown=money(max_drawdown([d.net_pnl for d in days])),
        sharpe=sharpe(returns),
        sortino=sortino(returns),
        profit_factor=profit_factor(nets),
        average_exposure=round(sum(exposure) / len(exposure), 4) if exposure else 0.0,
    )

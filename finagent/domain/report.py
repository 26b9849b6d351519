"""The daily summary: trades, P&L, hit rate and the day's max drawdown."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from finagent.domain.money import ZERO, money

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from finagent.domain.pnl import RoundTrip

__all__ = ["DailySummary", "max_drawdown", "summarize"]


@dataclass(frozen=True, slots=True)
class DailySummary:
    """What a session's round trips added up to. ``hit_rate`` is None with no trades."""

    session_date: date
    trades: int
    wins: int
    losses: int
    hit_rate: Decimal | None
    gross_pnl: Decimal
    commission: Decimal
    net_pnl: Decimal
    max_drawdown: Decimal
    best: Decimal | None
    worst: Decimal | None


def max_drawdown(pnls: Sequence[Decimal]) -> Decimal:
    """Largest fall from a running peak of cumulative P&L, starting from 0 (>= 0)."""
    peak = equity = worst = ZERO
    for pnl in pnls:
        equity += pnl
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def summarize(session_date: date, trips: Sequence[RoundTrip]) -> DailySummary:
    """Summarize round trips closed in one session, in closing order."""
    ordered = sorted(trips, key=lambda t: t.closed_at)
    nets = [t.net for t in ordered]
    wins = sum(1 for n in nets if n > 0)
    losses = sum(1 for n in nets if n < 0)
    hit = (Decimal(wins) / Decimal(len(nets))).quantize(Decimal("0.0001")) if nets else None
    return DailySummary(
        session_date=session_date,
        trades=len(nets),
        wins=wins,
        losses=losses,
        hit_rate=hit,
        gross_pnl=money(sum((t.gross for t in ordered), ZERO)),
        commission=money(sum((t.commission for t in ordered), ZERO)),
        net_pnl=money(sum(nets, ZERO)),
        max_drawdown=money(max_drawdown(nets)),
        best=money(max(nets)) if nets else None,
        worst=money(min(nets)) if nets else None,
    )

"""Backtest metrics: hand-checked values and the no-data cases."""

from __future__ import annotations

import math
from decimal import Decimal

from finagent.domain.backtest import (
    DayResult,
    drawdowns,
    equity_curve,
    profit_factor,
    sharpe,
    sortino,
    summarize_days,
    trade_nets,
)

D = Decimal


def test_trade_nets_charge_commission_on_both_fills_and_skip_open_orders() -> None:
    orders = [
        {"side": "long", "qty": 100, "filled_price": "10.00", "exit_price": "10.50"},
        {"side": "short", "qty": 10, "filled_price": "20.00", "exit_price": "21.00"},
        {"side": "long", "qty": 5, "filled_price": None, "exit_price": None},
    ]
    assert trade_nets(orders, D("0.005")) == [D("49.00"), D("-10.10")]


def test_ratios() -> None:
    assert sharpe([0.01]) is None and sharpe([0.01, 0.01]) is None
    assert sharpe([0.01, -0.01, 0.02]) == round(
        (0.02 / 3) / 0.015275252316519466 * math.sqrt(252), 4
    )
    assert sortino([0.01, 0.02]) is None and sortino([0.01]) is None
    assert sortino([0.02, -0.01]) == round(0.005 / math.sqrt(0.0001 / 2) * math.sqrt(252), 4)
    assert profit_factor([D(30), D(-10), D(0)]) == 3.0 and profit_factor([D(5)]) is None


def test_summary_curve_and_drawdown() -> None:
    days = [
        DayResult("2025-01-06", 2, (D(100), D(-50)), D(50000)),
        DayResult("2025-01-07", 1, (D(-200),), D(10000)),
        DayResult("2025-01-08", 0, (), D(0)),
    ]
    curve = equity_curve(days, D(100000))
    assert curve == [D(100050), D(99850), D(99850)]
    assert drawdowns(curve) == [D(0), D(-200), D(-200)]
    s = summarize_days(days, D(100000))
    assert (s.sessions, s.trades, s.wins, s.hit_rate) == (3, 3, 1, D("0.3333"))
    assert (s.net_pnl, s.max_drawdown, s.average_exposure) == (D("-150.00"), D("200.00"), 0.2)
    empty = summarize_days([], D(1))
    assert (empty.hit_rate, empty.average_exposure, empty.sharpe) == (None, 0.0, None)

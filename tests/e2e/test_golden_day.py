"""A golden session: the real daemon on a tiny scripted market, checked against hand arithmetic.

``test_simulate.py`` checks the daemon's wiring against the domain functions it runs; this file
checks the numbers themselves. Three symbols are written into a replay store (``feed: replay``,
the backtest's production path) as literal daily rows, pre-market and regular-hours minute bars
and headlines. The whole daemon (``run_simulation``: ``run_daemon`` under a ``MockClock`` with
a ``VirtualClock``, inline SQLite, the paper broker) trades the day with the default settings,
and every expected number below is a literal, worked out by hand in the comment above it from
the rules in ``finagent/domain`` (gaps, scoring, planning, risk, fill_model) and
``finagent/adapters/replay/market.py`` (how a snapshot is built from the bars).

The day (2025-01-06, XNYS: open 09:30 ET, close 16:00 ET; times below are ET):

- AAA gaps up 10 % on FDA news; its size is capped by ``max_notional_per_position``; it
  fills on the 09:36 breakout and exits at its target on the 10:15 bar.
- BBB gaps down 12 % on a downgrade; its size is set by the 1 % risk budget; it fills on the
  09:37 breakdown and is closed by its time stop at 11:35 at the last price.
- CCC gaps up only 3 %: the scan drops it (``min_gap_pct`` is 4), FDA headline and all.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.adapters.replay.store import DailyRow, open_store
from finagent.adapters.sim.paper_broker import read_paper_book
from finagent.app.parts import broker_path
from finagent.app.simulate import find_session, run_simulation
from finagent.domain.market import Bar, Headline
from finagent.settings import load_settings

if TYPE_CHECKING:
    from pathlib import Path

    from finagent.domain.orders import BrokerOrder, Fill

    PaperBook = tuple[list[BrokerOrder], list[Fill]]

DAY = date(2025, 1, 6)
NY = ZoneInfo("America/New_York")
D = Decimal


def et(hour: int, minute: int) -> datetime:
    """A time of the golden day, New York time."""
    return datetime(2025, 1, 6, hour, minute, tzinfo=NY)


def _minute(at: datetime) -> datetime:
    """``at`` in New York time, cut to the minute."""
    return at.astimezone(NY).replace(second=0, microsecond=0)


def bar(symbol: str, hour: int, minute: int, o: str, h: str, lo: str, c: str, v: int) -> Bar:
    """One minute bar starting at ``hour:minute`` ET."""
    return Bar(symbol, et(hour, minute), D(o), D(h), D(lo), D(c), v)


def daily(symbol: str, prev_close: str, atr: str, avg_volume: float) -> DailyRow:
    """The session's daily row; only prev_close, ATR and average volume reach the scan."""
    pc = D(prev_close)
    return DailyRow(
        DAY, symbol, pc, pc, pc, pc, 1, prev_close=pc, atr=D(atr), avg_volume=avg_volume
    )


# ---- the scripted market ---------------------------------------------------------------------
# Average volumes end in 11 so the typical pre-market volume is not a float rounding away from
# a whole number: the replay feed's typical volume at 09:00 is
#   int(avg_volume x 3 % x (09:00 - 04:00) / (09:30 - 04:00)) = int(avg_volume x 0.03 x 300/330)
DAILY = [
    daily("AAA", "45.00", "1.50", 2_200_011.0),  # typical = int(60_000.3) = 60_000
    daily("BBB", "10.00", "0.60", 1_100_011.0),  # typical = int(30_000.3) = 30_000
    daily("CCC", "20.00", "0.50", 1_100_011.0),  # typical = 30_000
]
BARS = [
    # pre-market (the 09:00 scan sees bars that start by 08:59)
    bar("AAA", 8, 0, "47.20", "48.00", "47.00", "47.90", 100_000),
    bar("AAA", 8, 50, "49.00", "49.80", "48.90", "49.50", 140_000),
    bar("BBB", 8, 0, "9.05", "9.10", "8.90", "8.95", 200_000),
    bar("BBB", 8, 50, "8.90", "8.92", "8.70", "8.80", 300_000),
    bar("CCC", 8, 50, "20.50", "20.70", "20.40", "20.60", 300_000),
    # AAA: opening range 09:30-09:34, then the breakout and the target
    bar("AAA", 9, 30, "49.60", "49.90", "49.40", "49.80", 50_000),
    bar("AAA", 9, 31, "49.80", "50.19", "49.70", "50.10", 40_000),
    bar("AAA", 9, 32, "50.10", "50.15", "49.90", "50.00", 30_000),
    bar("AAA", 9, 33, "50.00", "50.05", "49.80", "49.90", 30_000),
    bar("AAA", 9, 34, "49.90", "50.00", "49.70", "49.95", 30_000),
    bar("AAA", 9, 36, "50.00", "50.40", "49.95", "50.30", 60_000),
    bar("AAA", 10, 15, "51.50", "51.90", "51.45", "51.85", 40_000),
    # BBB: opening range 09:30-09:34, then the breakdown, drifting lower until the time stop
    bar("BBB", 9, 30, "8.80", "8.95", "8.75", "8.90", 90_000),
    bar("BBB", 9, 31, "8.90", "8.92", "8.70", "8.72", 80_000),
    bar("BBB", 9, 32, "8.72", "8.80", "8.60", "8.65", 70_000),
    bar("BBB", 9, 33, "8.65", "8.75", "8.62", "8.70", 60_000),
    bar("BBB", 9, 34, "8.70", "8.78", "8.66", "8.74", 50_000),
    bar("BBB", 9, 37, "8.70", "8.72", "8.55", "8.58", 90_000),
    bar("BBB", 10, 30, "8.40", "8.45", "8.30", "8.35", 40_000),
    bar("BBB", 11, 20, "8.20", "8.25", "8.10", "8.15", 30_000),
]
NEWS = [
    Headline("n1", et(7, 0), ("AAA",), "AAA wins FDA approval for its lead drug", "golden"),
    Headline("n2", et(6, 30), ("BBB",), "Analyst downgrade hits BBB", "golden"),
    Headline("n3", et(7, 15), ("CCC",), "CCC lands an FDA approval too", "golden"),
]


def _trade_the_day(root: Path, **paper: float) -> tuple[dict[str, Any], PaperBook]:
    """Write the scripted market, run the daemon over the day; the report and the broker's book.

    ``paper``: paper-broker settings over the defaults (e.g. ``commission_per_share``).
    """
    market = root / "market.db"
    store = open_store(market, create=True)
    try:
        store.write(
            daily=DAILY,
            bars=BARS,
            news=NEWS,
            coverage=[(DAY, s, kind) for s in ("AAA", "BBB", "CCC") for kind in ("minute", "news")],
        )
    finally:
        store.close()
    db = root / "golden.db"
    overrides = {
        "db_path": str(db),
        "feed": "replay",
        "replay": {"path": str(market)},
        "metrics": {"enabled": False},
        "paper": paper,
    }
    settings = load_settings(None, overrides, environ={}).settings
    session = find_session(XcalsExchangeCalendar("XNYS"), DAY, DAY)
    report = run_simulation(settings, session)
    book = read_paper_book(broker_path(db))
    assert book is not None
    return report, book


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """The golden day with the default settings, run once for the module."""
    return _trade_the_day(tmp_path_factory.mktemp("golden"))


# ---- scan: gap % = (last / prev_close - 1) x 100; rvol = pre-market volume / typical ----------
# AAA: last 49.50 (08:50 close), high 49.80, low 47.00, volume 100k + 140k = 240k
#      gap (49.50 / 45.00 - 1) x 100 = +10 %; rvol 240k / 60k = 4          -> passes
# BBB: last 8.80, high 9.10, low 8.70, volume 200k + 300k = 500k
#      gap (8.80 / 10.00 - 1) x 100 = -12 %; rvol 500k / 30k = 16.67      -> passes
# CCC: last 20.60, volume 300k (>= 100k), price in [2, 200], rvol 10 (>= 2),
#      but gap (20.60 / 20.00 - 1) x 100 = 3 % < min_gap_pct 4           -> dropped
#      (its FDA headline cannot save it: catalysts only score candidates that passed)
# Candidates come biggest |gap| first: BBB (12 %), AAA (10 %).
def test_the_scan_keeps_the_gappers_and_drops_the_small_gap(golden):
    report, _ = golden
    assert report["candidate_symbols"] == ["BBB", "AAA"]
    assert report["candidates"] == 2


# ---- scoring with ScoreWeights' defaults --------------------------------------------------------
# points = min(raw / cap, 1) x weight; caps: gap 20 %, rvol 10, volume 2,000,000
# AAA: gap      10 / 20 = 0.5                     x 30 = 15
#      rvol     4 / 10 = 0.4                      x 25 = 10
#      volume   240,000 / 2,000,000 = 0.12        x 15 = 1.8
#      catalyst "fda" 1.0 (beats "approval" 0.9)  x 20 = 20
#      strength (49.50 - 47.00) / (49.80 - 47.00) = 2.5 / 2.8 = 0.892857...
#                                                 x 10 = 8.9286 (rounded to 4 places)
#      total 15 + 10 + 1.8 + 20 + 8.9286 = 55.7286
# BBB: gap      12 / 20 = 0.6                     x 30 = 18
#      rvol     16.67 / 10 -> capped at 1         x 25 = 25
#      volume   500,000 / 2,000,000 = 0.25        x 15 = 3.75
#      catalyst "downgrade" 0.5                   x 20 = 10
#      strength gap down: 1 - (8.80 - 8.70) / (9.10 - 8.70) = 1 - 0.25 = 0.75
#                                                 x 10 = 7.5
#      total 18 + 25 + 3.75 + 10 + 7.5 = 64.25   -> BBB ranks first
def test_the_scores_are_the_hand_computed_points(golden):
    report, _ = golden
    assert report["ranked"] == [
        {
            "symbol": "BBB",
            "score": 64.25,
            "components": {
                "gap": 18.0, "rvol": 25.0, "volume": 3.75, "catalyst": 10.0, "strength": 7.5,
            },
        },
        {
            "symbol": "AAA",
            "score": 55.7286,
            "components": {
                "gap": 15.0, "rvol": 10.0, "volume": 1.8, "catalyst": 20.0, "strength": 8.9286,
            },
        },
    ]  # fmt: skip


# ---- plans (range 5 min, stop_mode tighter, atr_multiple 1, target_r 2) ---------------------
# AAA long: opening range 09:30-09:34 high 50.19, low 49.40
#   entry  = 50.19 + 0.01 = 50.20
#   stops  pre-market low 47.00, range low 49.40, entry - 1 x ATR = 50.20 - 1.50 = 48.70
#          tighter = the highest below the entry = 49.40 (range low)
#   R = 50.20 - 49.40 = 0.80; target = 50.20 + 2 x 0.80 = 51.80
# BBB short: opening range high 8.95, low 8.60
#   entry  = 8.60 - 0.01 = 8.59
#   stops  pre-market high 9.10, range high 8.95, entry + 1 x ATR = 8.59 + 0.60 = 9.19
#          tighter = the lowest above the entry = 8.95 (range high)
#   R = 8.95 - 8.59 = 0.36; target = 8.59 - 2 x 0.36 = 7.87
# Time stop: range end 09:35 + 120 min = 11:35 (before the flatten at 15:55).
#
# ---- sizing (risk 1 % of 100,000 equity = 1,000; max notional 25,000; gross 100,000;
#      buying power 2 x equity = 200,000), plans assessed in rank order ------------------------
# BBB: risk 1,000 / 0.36 = 2,777.78 -> 2,777; notional 25,000 / 8.59 = 2,910.36 -> 2,910;
#      buying power 200,000 / 8.59 -> 23,282; gross 100,000 / 8.59 -> 11,641
#      -> 2,777 shares, bound by risk (notional 2,777 x 8.59 = 23,854.43)
# AAA: risk 1,000 / 0.80 = 1,250; notional 25,000 / 50.20 = 498.007 -> 498;
#      buying power 200,000 / 50.20 -> 3,984; gross (100,000 - 23,854.43) / 50.20 -> 1,516
#      -> 498 shares, capped by max_notional_per_position
def test_the_orders_are_the_hand_drawn_plans_and_sizes(golden):
    report, _ = golden
    assert report["plans"] == 2
    assert report["unplanned"] == []
    assert report["approved"] == 2
    assert report["rejected"] == {}
    orders = {o["symbol"]: o for o in report["orders"]}
    assert {
        s: (o["side"], o["qty"], o["entry"], o["stop"], o["target"]) for s, o in orders.items()
    } == {
        "BBB": ("short", 2777, "8.59", "8.95", "7.87"),
        "AAA": ("long", 498, "50.20", "49.40", "51.80"),
    }


# ---- fills (slippage 2 bps against the trader, rounded to the cent; commission 0) -----------
# The orders go out at 09:35:01 (the plan job runs at open + 5 min + 1 s); the paper broker
# applies the complete bars from then on.
# AAA buy-stop 50.20: the 09:36 bar's high 50.40 reaches it; it opened at 50.00 < 50.20, so the
#   level is 50.20; + 2 bps: 50.20 x 1.0002 = 50.21004 -> 50.21, at the bar's end 09:37.
#   The same bar: low 49.95 > stop 49.40, high 50.40 < target 51.80: still open.
#   10:15 bar: low 51.45 > 49.40 (no stop); high 51.90 >= 51.80: the target, a limit, fills at
#   max(51.80, open 51.50) = 51.80 without slippage, at 10:16.
#   P&L (51.80 - 50.21) x 498 = 1.59 x 498 = 791.82
# BBB sell-stop 8.59: the 09:37 bar's low 8.55 reaches it; it opened at 8.70 > 8.59, so the
#   level is 8.59; - 2 bps: 8.59 x 0.9998 = 8.588282 -> 8.59, at 09:38.
#   Same bar: high 8.72 < stop 8.95, low 8.55 > target 7.87. The 10:30 and 11:20 bars stay
#   between 8.10 and 8.45: no exit. The time stop at 11:35 closes at the last price, the
#   11:20 bar's close 8.15; buying back + 2 bps: 8.15 x 1.0002 = 8.15163 -> 8.15.
#   P&L (8.59 - 8.15) x 2,777 = 0.44 x 2,777 = 1,221.88
# Day: 791.82 + 1,221.88 = 2,013.70 over 2 trades, both won; drawdown 0.
def test_the_fills_and_pnl_are_the_hand_computed_ones(golden):
    report, (orders, fills) = golden
    by_symbol = {o["symbol"]: o for o in report["orders"]}
    assert {
        s: (o["status"], o["filled_price"], o["exit_price"], o["exit_kind"])
        for s, o in by_symbol.items()
    } == {
        "AAA": ("closed", "50.21", "51.80", "target"),
        "BBB": ("closed", "8.59", "8.15", "close"),
    }
    # Bar fills happen at a bar's end; the time stop's close when its job runs, a virtual
    # millisecond or so after 11:35: times are compared to the minute.
    assert [
        (f.symbol, f.side.value, f.quantity, f.price, _minute(f.at), f.kind.value, f.commission)
        for f in sorted(fills, key=lambda f: (f.at, f.symbol))
    ] == [
        ("AAA", "buy", 498, D("50.21"), et(9, 37), "entry", D("0.00")),
        ("BBB", "sell", 2777, D("8.59"), et(9, 38), "entry", D("0.00")),
        ("AAA", "sell", 498, D("51.80"), et(10, 16), "target", D("0.00")),
        ("BBB", "buy", 2777, D("8.15"), et(11, 35), "close", D("0.00")),
    ]  # fmt: skip
    assert sorted(f.at.astimezone(NY) for f in fills if f.kind.value != "close") == [
        et(9, 37),
        et(9, 38),
        et(10, 16),
    ]
    assert len(orders) == 2
    assert report["fills"] == 4
    assert (report["trades"], report["wins"], report["losses"]) == (2, 2, 0)
    assert report["pnl"] == "2013.70"
    assert report["max_drawdown"] == "0.00"
    assert report["open_positions"] == []
    assert report["lost_jobs"] == 0
    assert report["duplicate_orders"] == 0
    assert report.get("replay_gaps") is None


# ---- commission (paper.commission_per_share 0.005; every other setting at its default) ------
# Commission is 0.005 x quantity to the cent (half-even) on each fill:
#   AAA 498 x 0.005 = 2.49 (entry) + 2.49 (target)          = 4.98
#   BBB 2,777 x 0.005 = 13.885 -> 13.88 (entry) + 13.88 (close) = 27.76
# Net P&L: (791.82 - 4.98) + (1,221.88 - 27.76) = 786.84 + 1,194.12 = 1,980.96.
# docs/trading.md: the report's P&L is net of commission (report.summarize's net_pnl). The paper
# broker charges the commission (checked below) and its orders carry what their fills paid, so
# the report's fills (services/reporter.py ``fills_of``) do too. (This test found the report
# showing the gross 2,013.70 before the orders carried their commissions.)
def test_the_report_pnl_is_net_of_the_hand_computed_commission(tmp_path):
    report, (_, fills) = _trade_the_day(tmp_path, commission_per_share=0.005)
    assert sorted((f.symbol, f.kind.value, f.commission) for f in fills) == [
        ("AAA", "entry", D("2.49")),
        ("AAA", "target", D("2.49")),
        ("BBB", "close", D("13.88")),
        ("BBB", "entry", D("13.88")),
    ]
    assert report["pnl"] == "1980.96"

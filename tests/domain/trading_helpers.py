"""Builders for trading domain values, shared by the unit tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from finagent.domain.gaps import GapCandidate, ScanRules, candidate_from
from finagent.domain.market import Bar, Headline, Session, Snapshot
from finagent.domain.planning import PlanRules, TradePlan, plan_trade

NY = ZoneInfo("America/New_York")
DAY = date(2026, 3, 10)
SESSION = Session(
    DAY, datetime(2026, 3, 10, 9, 30, tzinfo=NY), datetime(2026, 3, 10, 16, 0, tzinfo=NY)
)
PREMARKET = datetime(2026, 3, 10, 9, 0, tzinfo=NY)


def D(value: str | int) -> Decimal:
    return Decimal(value)


def snap(
    symbol: str = "ABC",
    last: str = "10.80",
    prev_close: str = "10.00",
    high: str = "11.00",
    low: str = "10.20",
    volume: int = 500_000,
    typical: int = 100_000,
    atr: str = "0.50",
) -> Snapshot:
    return Snapshot(
        symbol, PREMARKET, D(last), D(prev_close), D(high), D(low), volume, typical, D(atr)
    )


def candidate(headlines: tuple[str, ...] = (), **kwargs: object) -> GapCandidate:
    found = candidate_from(snap(**kwargs), ScanRules())  # type: ignore[arg-type]
    assert found is not None
    items = tuple(
        Headline(f"h{i}", PREMARKET - timedelta(hours=1), (found.symbol,), text)
        for i, text in enumerate(headlines)
    )
    return GapCandidate(
        found.snapshot, found.gap_pct, found.direction, found.relative_volume, items
    )


def bar(
    minute: int, o: str, h: str, low: str, c: str, symbol: str = "ABC", volume: int = 10_000
) -> Bar:
    return Bar(symbol, SESSION.open + timedelta(minutes=minute), D(o), D(h), D(low), D(c), volume)


def range_bars(
    high: str = "11.20", low: str = "10.70", minutes: int = 5, symbol: str = "ABC"
) -> list[Bar]:
    """``minutes`` opening bars whose overall high and low are ``high`` and ``low``."""
    bars = [bar(i, low, low, low, low, symbol) for i in range(minutes)]
    bars[1] = bar(1, low, high, low, high, symbol)
    return bars


def long_plan(**rules: object) -> TradePlan:
    plan = plan_trade(candidate(), range_bars(), PlanRules(**rules), SESSION)  # type: ignore[arg-type]
    assert plan is not None
    return plan

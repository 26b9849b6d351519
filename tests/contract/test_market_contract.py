"""The MarketData + News contract, run against FakeMarket and SimMarket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from finagent.adapters.sim.market import SimMarket
from finagent.domain.market import Bar, Headline, Snapshot
from finagent.ports.market import MarketData
from finagent.ports.news import News
from tests.fakes import FakeMarket

NY = ZoneInfo("America/New_York")
DAY = date(2026, 3, 10)
AT = datetime(2026, 3, 10, 9, 0, tzinfo=NY)
OPEN = datetime(2026, 3, 10, 9, 30, tzinfo=NY)


class _Feed(MarketData, News):
    """Both ports at once (only for typing the harness)."""


@dataclass
class MarketHarness:
    feed: _Feed
    symbol: str  # a symbol with a snapshot, bars from the open and a headline before AT


def _fake() -> FakeMarket:
    market = FakeMarket(["ABC", "XYZ"])
    px = Decimal("10.50")
    market.snapshot_by_symbol["ABC"] = Snapshot(
        "ABC", AT, px, Decimal(10), px, px, 1, 1, Decimal(1)
    )
    for minute in range(30):
        market.add_bar(Bar("ABC", OPEN + timedelta(minutes=minute), px, px, px, px, 100))
    market.news.append(Headline("n1", AT - timedelta(hours=1), ("ABC",), "ABC earnings"))
    return market


@pytest.fixture(params=["fake", "sim"])
async def mh(request: pytest.FixtureRequest) -> AsyncIterator[MarketHarness]:
    if request.param == "fake":
        yield MarketHarness(_fake(), "ABC")  # type: ignore[arg-type]
        return
    sim = SimMarket(symbols=2000, seed=42)
    news = await sim.headlines(await sim.universe(DAY), AT - timedelta(hours=17), AT)
    yield MarketHarness(sim, news[0].symbols[0])  # type: ignore[arg-type]


async def test_the_universe_is_stable_and_holds_the_symbol(mh: MarketHarness) -> None:
    first = await mh.feed.universe(DAY)
    assert mh.symbol in first
    assert list(await mh.feed.universe(DAY)) == list(first)


async def test_snapshots_answer_for_known_symbols_only_as_of_at(mh: MarketHarness) -> None:
    snaps = await mh.feed.snapshots([mh.symbol, "NOPE-NOT-LISTED"], AT)
    assert [s.symbol for s in snaps] == [mh.symbol]
    assert snaps[0].at == AT and snaps[0].prev_close > 0


async def test_minute_bars_are_complete_ordered_and_inside_the_window(mh: MarketHarness) -> None:
    end = OPEN + timedelta(minutes=7, seconds=20)
    bars = await mh.feed.minute_bars(mh.symbol, OPEN, end)
    assert len(bars) == 7
    assert all(b.start >= OPEN and b.end <= end for b in bars)
    assert [b.start for b in bars] == sorted(b.start for b in bars)


async def test_last_prices_are_positive_for_known_symbols(mh: MarketHarness) -> None:
    prices = await mh.feed.last_prices([mh.symbol], OPEN + timedelta(minutes=5))
    assert set(prices) == {mh.symbol} and prices[mh.symbol] > 0


async def test_headlines_name_the_symbol_inside_the_window(mh: MarketHarness) -> None:
    start = AT - timedelta(hours=17)
    news = await mh.feed.headlines([mh.symbol], start, AT)
    assert news and all(mh.symbol in h.symbols and start <= h.at < AT for h in news)
    assert await mh.feed.headlines([mh.symbol], AT, AT + timedelta(minutes=1)) == []

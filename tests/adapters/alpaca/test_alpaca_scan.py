"""The gap scan with ``feed: alpaca`` against the fake data API on 127.0.0.1.

The fake sends prices and sizes as JSON numbers, as Alpaca does; the same scan over decimal
strings must find the same candidates (issue #13: every scan failed on real market data).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from finagent.adapters.alpaca.http import AlpacaHttp, RetryPolicy, TokenBucket, alpaca_headers
from finagent.adapters.alpaca.market import AlpacaMarketData, AlpacaNews
from finagent.domain.errors import MarketDataUnavailable
from finagent.domain.gaps import ScanRules
from finagent.services.scanner import scan_at
from tests.fakes.alpaca import FakeAlpacaState, running_fake_alpaca
from tests.fakes.alpaca.market import bar, snapshot, utc

NY = ZoneInfo("America/New_York")
AT = datetime(2026, 3, 10, 9, 0, tzinfo=NY)
DAY = datetime(2026, 3, 10, tzinfo=NY)


def _state(as_strings: bool) -> FakeAlpacaState:
    state = FakeAlpacaState(data_as_strings=as_strings, page_size=50)
    plan = {  # symbol: last, previous close, day high, day low, pre-market volume
        "AAA": ("11", "10", "11.5", "10.2", 300_000),  # +10 %
        "BBB": ("10.1", "10", "10.2", "10", 300_000),  # +1 %: too small a gap
        "CCC": ("18.4", "20", "19.9", "18.1", 250_000),  # -8 %
        "DDD": ("101.2", "92", "102", "99.5", 400_000),  # +10 % on a price a float blurs
        "EEE": ("55", "50", "55.3", "50", 20_000),  # +10 % on too little volume
    }
    for symbol, (last, prev, high, low, volume) in plan.items():
        state.snapshots[symbol] = snapshot(
            AT - timedelta(seconds=5), last, prev, high=high, low=low, volume=volume,
            prev_volume=2_000_000, session_day=DAY,
        )  # fmt: skip
        state.assets.append({"symbol": symbol, "status": "active", "tradable": True})
    state.news.append({"id": 7, "headline": "AAA wins a contract", "source": "benzinga",
                       "created_at": utc(AT - timedelta(hours=1)), "symbols": ["AAA"]})  # fmt: skip
    state.bars["AAA"] = [
        bar(DAY + timedelta(hours=9, minutes=30 + i), "11", "11.2", "10.9", "11.1", 5000 + i)
        for i in range(3)
    ]
    return state


@asynccontextmanager
async def _feeds(state: FakeAlpacaState) -> AsyncIterator[tuple[AlpacaMarketData, AlpacaNews]]:
    with running_fake_alpaca(state) as url:
        headers = alpaca_headers(state.key_id, state.secret_key)
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            policy = RetryPolicy(attempts=1)
            api = AlpacaHttp(client, port="data", limiter=TokenBucket(100_000), policy=policy)
            yield AlpacaMarketData(api, api, chunk=2), AlpacaNews(api)


async def _scan(as_strings: bool) -> list[tuple[str, Decimal, Decimal, int, int]]:
    async with _feeds(_state(as_strings)) as (market, news):
        found = await scan_at(market, news, ScanRules(), AT)
    return [
        (c.symbol, c.gap_pct, c.price, c.snapshot.premarket_volume, len(c.catalysts)) for c in found
    ]


async def test_a_scan_over_json_numbers_finds_the_gappers() -> None:
    assert await _scan(as_strings=False) == [
        ("AAA", Decimal(10), Decimal(11), 300_000, 1),
        ("DDD", Decimal(10), Decimal("101.2"), 400_000, 0),
        ("CCC", Decimal(-8), Decimal("18.4"), 250_000, 0),
    ]


async def test_the_same_scan_over_decimal_strings_finds_the_same_candidates() -> None:
    assert await _scan(as_strings=True) == await _scan(as_strings=False)


@pytest.mark.parametrize("as_strings", [False, True])
async def test_bars_and_last_prices_read_either_spelling(as_strings: bool) -> None:
    async with _feeds(_state(as_strings)) as (market, _):
        start = DAY + timedelta(hours=9, minutes=30)
        bars = await market.minute_bars("AAA", start, start + timedelta(minutes=3))
        prices = await market.last_prices(["AAA", "DDD"], AT)
    assert [(b.open, b.high, b.volume) for b in bars] == [
        (Decimal(11), Decimal("11.2"), 5000 + i) for i in range(3)
    ]
    assert prices == {"AAA": Decimal(11), "DDD": Decimal("101.2")}


async def test_an_unreadable_price_names_the_field_and_value() -> None:
    state = _state(as_strings=False)
    state.snapshots["CCC"]["prevDailyBar"]["c"] = "n/a"
    async with _feeds(state) as (market, _):
        with pytest.raises(MarketDataUnavailable) as caught:
            await market.snapshots(["AAA", "CCC"], AT.astimezone(UTC))
    assert str(caught.value) == (
        "snapshots: malformed response: CCC.prevDailyBar.c: expected a number, got 'n/a'"
    )

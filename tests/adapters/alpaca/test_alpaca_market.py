"""AlpacaMarketData and AlpacaNews: chunking, pagination, mapping, errors (respx).

Market-data bodies carry prices and sizes as JSON numbers, as Alpaca sends them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
import respx

from finagent.adapters.alpaca.http import AlpacaHttp, RetryPolicy, TokenBucket, alpaca_headers
from finagent.adapters.alpaca.market import AlpacaMarketData, AlpacaNews, MarketDataAuthError
from finagent.domain.errors import MarketDataError, MarketDataUnavailable

DATA = "https://data.test"
TRADING = "https://trading.test"
BROKEN = {"latestTrade": {"p": None}, "prevDailyBar": {"c": "x"}}
NOT_AN_OBJECT = {"latestTrade": [], "prevDailyBar": None}
AT = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # 09:00 New York


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def market() -> AsyncIterator[AlpacaMarketData]:
    headers = alpaca_headers("k", "s")
    async with (
        httpx.AsyncClient(base_url=DATA, headers=headers) as data,
        httpx.AsyncClient(base_url=TRADING, headers=headers) as trading,
    ):
        policy = RetryPolicy(attempts=2, base_s=0.0)
        yield AlpacaMarketData(
            AlpacaHttp(data, port="data", limiter=TokenBucket(10_000), policy=policy),
            AlpacaHttp(trading, port="trading", limiter=TokenBucket(10_000), policy=policy),
            feed="sip", chunk=2,
        )  # fmt: skip


@pytest.fixture
async def news() -> AsyncIterator[AlpacaNews]:
    async with httpx.AsyncClient(base_url=DATA, headers=alpaca_headers("k", "s")) as data:
        policy = RetryPolicy(attempts=1)
        yield AlpacaNews(AlpacaHttp(data, port="data", limiter=TokenBucket(10_000), policy=policy))


def _snap(last: float, prev_close: float, day: str = "2026-03-10T08:00:00Z") -> dict[str, object]:
    return {
        "latestTrade": {"t": "2026-03-10T12:59:00Z", "p": last, "s": 100},
        "dailyBar": {"t": day, "o": last, "h": 12.5, "l": 10.5, "c": last, "v": 300000},
        "prevDailyBar": {"t": "2026-03-09T04:00:00Z", "o": 10, "h": 10.8, "l": 9.6,
                         "c": prev_close, "v": 2000000},
    }  # fmt: skip


async def test_snapshots_are_chunked_and_mapped(
    api: respx.MockRouter, market: AlpacaMarketData
) -> None:
    route = api.get(f"{DATA}/v2/stocks/snapshots").mock(
        side_effect=[
            httpx.Response(200, json={"AAA": _snap(11, 10), "BBB": {"latestTrade": None}}),
            httpx.Response(200, json={"CCC": _snap(5, 5, day="2026-03-09T08:00:00Z")}),
        ]
    )
    snaps = await market.snapshots(["AAA", "BBB", "CCC"], AT)
    assert [dict(c.request.url.params) for c in route.calls] == [
        {"symbols": "AAA,BBB", "feed": "sip"},
        {"symbols": "CCC", "feed": "sip"},
    ]
    aaa, ccc = snaps
    assert aaa.gap_pct == Decimal(10)
    assert (aaa.premarket_high, aaa.premarket_low, aaa.premarket_volume) == (
        Decimal("12.5"), Decimal("10.5"), 300000,
    )  # fmt: skip
    assert aaa.typical_premarket_volume == 100000
    assert aaa.atr == Decimal("1.2")
    assert (ccc.premarket_volume, ccc.premarket_high) == (0, Decimal(5))  # yesterday's bar


async def test_a_zero_previous_close_or_no_snapshot_is_skipped(
    api: respx.MockRouter, market: AlpacaMarketData
) -> None:
    api.get(f"{DATA}/v2/stocks/snapshots").mock(
        return_value=httpx.Response(200, json={"AAA": _snap(1, 0)})
    )
    assert await market.snapshots(["AAA", "GONE"], AT) == []


async def test_bars_follow_the_page_token_and_keep_the_window(
    api: respx.MockRouter, market: AlpacaMarketData
) -> None:
    def bar(t: str) -> dict[str, object]:
        return {"t": t, "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10}

    route = api.get(f"{DATA}/v2/stocks/bars").mock(
        side_effect=[
            httpx.Response(200, json={"bars": {"AAA": [bar("2026-03-10T14:30:00Z")]},
                                      "next_page_token": "p2"}),
            httpx.Response(200, json={"bars": {"AAA": [bar("2026-03-10T14:31:00Z"),
                                                       bar("2026-03-10T14:32:00Z")]},
                                      "next_page_token": None}),
        ]
    )  # fmt: skip
    start, end = (
        datetime(2026, 3, 10, 14, 30, tzinfo=UTC),
        datetime(2026, 3, 10, 14, 32, tzinfo=UTC),
    )
    bars = await market.minute_bars("AAA", start, end)
    assert [b.start.minute for b in bars] == [30, 31]
    assert route.calls[1].request.url.params["page_token"] == "p2"
    assert route.calls[0].request.url.params["timeframe"] == "1Min"


async def test_last_prices_ignore_trades_after_at(
    api: respx.MockRouter, market: AlpacaMarketData
) -> None:
    trades = {
        "AAA": {"t": "2026-03-10T12:59:00Z", "p": 11.25},
        "BBB": {"t": "2026-03-10T13:00:01Z", "p": 3},
    }
    api.get(f"{DATA}/v2/stocks/trades/latest").mock(
        return_value=httpx.Response(200, json={"trades": trades})
    )
    assert await market.last_prices(["AAA", "BBB"], AT) == {"AAA": Decimal("11.25")}


async def test_universe_is_filtered_sorted_and_cached_per_day(
    api: respx.MockRouter, market: AlpacaMarketData
) -> None:
    assets = [
        {"symbol": "ZZZ", "status": "active", "tradable": True},
        {"symbol": "AAA", "status": "active", "tradable": True},
        {"symbol": "NOT", "status": "active", "tradable": False},
        {"symbol": "OLD", "status": "inactive", "tradable": True},
    ]
    route = api.get(f"{TRADING}/v2/assets").mock(return_value=httpx.Response(200, json=assets))
    assert await market.universe(date(2026, 3, 10)) == ("AAA", "ZZZ")
    assert await market.universe(date(2026, 3, 10)) == ("AAA", "ZZZ")
    assert route.call_count == 1
    await market.universe(date(2026, 3, 11))
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(403, json={"message": "no sip"}), MarketDataAuthError),
        (httpx.Response(400, json={"message": "bad symbol"}), MarketDataError),
        (httpx.Response(503), MarketDataUnavailable),
        (httpx.Response(200, json={"AAA": BROKEN}), MarketDataUnavailable),
        (httpx.Response(200, json={"AAA": NOT_AN_OBJECT}), MarketDataUnavailable),
        (httpx.Response(200, json={"AAA": "nope"}), MarketDataUnavailable),
    ],
)  # fmt: skip
async def test_feed_errors_are_typed(
    api: respx.MockRouter, market: AlpacaMarketData, response: httpx.Response, kind: type
) -> None:
    api.get(f"{DATA}/v2/stocks/snapshots").mock(return_value=response)
    with pytest.raises(kind):
        await market.snapshots(["AAA"], AT)


async def test_news_pages_are_followed_filtered_and_sorted(
    api: respx.MockRouter, news: AlpacaNews
) -> None:
    def item(i: int, t: str) -> dict[str, object]:
        return {"id": i, "headline": f"h{i}", "created_at": t, "symbols": ["AAA"], "source": "bz"}

    route = api.get(f"{DATA}/v1beta1/news").mock(
        side_effect=[
            httpx.Response(200, json={"news": [item(2, "2026-03-10T12:00:00Z")],
                                      "next_page_token": "n2"}),
            httpx.Response(200, json={"news": [item(1, "2026-03-10T11:00:00Z"),
                                               item(3, "2026-03-10T13:00:00Z")]}),
        ]
    )  # fmt: skip
    start = datetime(2026, 3, 10, 10, tzinfo=UTC)
    found = await news.headlines(["AAA", "BBB"], start, AT)
    assert [(h.id, h.headline, h.source, h.symbols) for h in found] == [
        ("1", "h1", "bz", ("AAA",)),
        ("2", "h2", "bz", ("AAA",)),
    ]
    first = route.calls[0].request.url.params
    assert (first["symbols"], first["sort"], first["limit"]) == ("AAA,BBB", "asc", "50")
    assert route.calls[1].request.url.params["page_token"] == "n2"


async def test_news_for_no_symbols_asks_nothing(news: AlpacaNews) -> None:
    assert await news.headlines([], AT, AT) == []

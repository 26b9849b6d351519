"""AlpacaMarketData and AlpacaNews: the MarketData and News ports over Alpaca's data APIs.

Snapshots come in chunks of symbols per request; bars and news follow ``next_page_token``.
The universe (active, tradable US equities from the Trading API's ``/v2/assets``) is cached
per session date.

The snapshot endpoint has no pre-market aggregate, 14-day ATR or typical pre-market volume.
Until a richer source is wired they are estimated from the snapshot itself: the day's bar
so far stands for the pre-market (high, low, volume) when it is dated on the session, the
previous day's range stands for the ATR, and ``premarket_share`` of the previous day's
volume stands for a typical pre-market volume.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any, final
from zoneinfo import ZoneInfo

from finagent.adapters.alpaca.data_wire import bar_from_wire, snapshot_from_wire, trade_from_wire
from finagent.adapters.alpaca.http import (
    AlpacaApiError,
    AlpacaHttp,
    RetryableError,
)
from finagent.adapters.alpaca.wire import timestamp
from finagent.domain.errors import MarketDataError, MarketDataUnavailable
from finagent.domain.market import Bar, Headline, Snapshot

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from datetime import date, datetime


__all__ = ["AlpacaMarketData", "AlpacaNews", "MarketDataAuthError", "read_headlines"]

log = logging.getLogger(__name__)

NY = ZoneInfo("America/New_York")
_PAGE_LIMIT = 10_000


class MarketDataAuthError(MarketDataError):
    """The data API refused the keys or the feed (401/403): retrying will not help."""


@contextmanager
def _translate(what: str) -> Iterator[None]:
    try:
        yield
    except RetryableError as exc:
        raise MarketDataUnavailable(f"{what}: {exc}") from exc
    except AlpacaApiError as err:
        if err.status in (401, 403):
            raise MarketDataAuthError(f"{what}: Alpaca refused: {err.message}") from err
        raise MarketDataError(str(err)) from err
    except (KeyError, TypeError, ValueError) as exc:
        raise MarketDataUnavailable(f"{what}: malformed response: {exc}") from exc


def _iso(at: datetime) -> str:
    return at.isoformat()


@final
class AlpacaMarketData:
    """MarketData over Alpaca: ``data`` calls the data API, ``trading`` the trading API."""

    def __init__(
        self,
        data: AlpacaHttp,
        trading: AlpacaHttp,
        *,
        feed: str = "iex",
        chunk: int = 200,
        premarket_share: Decimal = Decimal("0.05"),
    ) -> None:
        self._data = data
        self._trading = trading
        self._feed = feed
        self._chunk = chunk
        self._share = premarket_share
        self._universe: tuple[date, tuple[str, ...]] | None = None

    async def universe(self, session_date: date) -> Sequence[str]:
        """Active, tradable US equities, sorted; fetched once per session date."""
        if self._universe is not None and self._universe[0] == session_date:
            return self._universe[1]
        params = {"status": "active", "asset_class": "us_equity"}
        with _translate("assets"):
            rows = await self._trading.get_json("/v2/assets", "GET /v2/assets", params)
            symbols = tuple(
                sorted(
                    str(r["symbol"])
                    for r in rows
                    if r.get("tradable") and r.get("status") == "active"
                )
            )
        self._universe = (session_date, symbols)
        return symbols

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> Sequence[Snapshot]:
        """Snapshots in chunks; symbols without a last trade or previous close are skipped."""
        out: list[Snapshot] = []
        for start in range(0, len(symbols), self._chunk):
            chunk = symbols[start : start + self._chunk]
            params = {"symbols": ",".join(chunk), "feed": self._feed}
            with _translate("snapshots"):
                body = await self._data.get_json(
                    "/v2/stocks/snapshots", "GET /v2/stocks/snapshots", params
                )
                for symbol in chunk:
                    snap = self._snapshot(symbol, body.get(symbol), at)
                    if snap is not None:
                        out.append(snap)
        return out

    def _snapshot(
        self, symbol: str, raw: Mapping[str, Any] | None, at: datetime
    ) -> Snapshot | None:
        if raw is None:
            return None
        wire = snapshot_from_wire(raw, symbol)
        trade, prev, today = wire.latest_trade, wire.prev_daily_bar, wire.daily_bar
        if trade is None or prev is None or prev.close <= 0:
            return None
        last = trade.price
        on_session = today is not None and today.start.astimezone(NY).date() == (
            at.astimezone(NY).date()
        )
        high, low, volume = (
            (today.high, today.low, today.volume) if on_session and today else (last, last, 0)
        )
        return Snapshot(
            symbol=symbol,
            at=at,
            last=last,
            prev_close=prev.close,
            premarket_high=max(high, last),
            premarket_low=min(low, last),
            premarket_volume=volume,
            typical_premarket_volume=int(Decimal(prev.volume) * self._share),
            atr=prev.high - prev.low,
        )

    async def minute_bars(self, symbol: str, start: datetime, end: datetime) -> Sequence[Bar]:
        """Complete 1-minute bars in ``[start, end]``, following ``next_page_token``."""
        params: dict[str, Any] = {
            "symbols": symbol,
            "timeframe": "1Min",
            "start": _iso(start),
            "end": _iso(end),
            "limit": _PAGE_LIMIT,
            "feed": self._feed,
            "adjustment": "raw",
            "sort": "asc",
        }
        bars: list[Bar] = []
        with _translate("bars"):
            while True:
                body = await self._data.get_json("/v2/stocks/bars", "GET /v2/stocks/bars", params)
                for i, raw in enumerate((body.get("bars") or {}).get(symbol) or []):
                    w = bar_from_wire(raw, f"{symbol}.bars[{i}]")
                    bar = Bar(symbol, w.start, w.open, w.high, w.low, w.close, w.volume)
                    if start <= bar.start and bar.end <= end:
                        bars.append(bar)
                token = body.get("next_page_token")
                if not token:
                    return bars
                params["page_token"] = token

    async def last_prices(self, symbols: Sequence[str], at: datetime) -> Mapping[str, Decimal]:
        """The latest trade price per symbol (``/v2/stocks/trades/latest``), in chunks."""
        out: dict[str, Decimal] = {}
        for start in range(0, len(symbols), self._chunk):
            params = {"symbols": ",".join(symbols[start : start + self._chunk]), "feed": self._feed}
            with _translate("latest trades"):
                body = await self._data.get_json(
                    "/v2/stocks/trades/latest", "GET /v2/stocks/trades/latest", params
                )
                for symbol, raw in (body.get("trades") or {}).items():
                    trade = trade_from_wire(raw, symbol)
                    if trade.at <= at:
                        out[symbol] = trade.price
        return out


@final
class AlpacaNews:
    """News over Alpaca's ``/v1beta1/news``, oldest first, following ``next_page_token``."""

    def __init__(self, data: AlpacaHttp) -> None:
        self._http = data

    async def headlines(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Sequence[Headline]:
        """Headlines naming any of ``symbols`` published in ``[start, end)``."""
        if not symbols:
            return []
        with _translate("news"):
            return await read_headlines(self._http, symbols, start, end)


async def read_headlines(
    http: AlpacaHttp, symbols: Sequence[str], start: datetime, end: datetime
) -> list[Headline]:
    """``/v1beta1/news`` for ``symbols`` in ``[start, end)``, every page, oldest first.

    One reader for the news feed and the history download; each caller translates errors.
    """
    params: dict[str, Any] = {
        "symbols": ",".join(symbols),
        "start": _iso(start),
        "end": _iso(end),
        "limit": 50,
        "sort": "asc",
    }
    out: list[Headline] = []
    while True:
        body = await http.get_json("/v1beta1/news", "GET /v1beta1/news", params)
        for raw in body.get("news") or []:
            at = timestamp(raw["created_at"])
            if start <= at < end:
                out.append(
                    Headline(
                        id=str(raw["id"]),
                        at=at,
                        symbols=tuple(raw.get("symbols") or ()),
                        headline=str(raw["headline"]),
                        source=str(raw.get("source") or "alpaca"),
                    )
                )
        token = body.get("next_page_token")
        if not token:
            return sorted(out, key=lambda h: (h.at, h.id))
        params["page_token"] = token

"""AlpacaHistory: historical bars and news for ``finagent data download``.

``GET /v2/stocks/bars`` with many symbols per request (``symbols=A,B``): Alpaca's ``limit``
counts bars across all the symbols of a page, pages are ordered by symbol then time, and a
symbol may continue on the next page, so bars are gathered per symbol until
``next_page_token`` is null. ``GET /v1beta1/news`` pages the same way (50 per page at most).
Every call goes through the shared :class:`AlpacaHttp` (rate limit, retries, 429
``Retry-After``). Failures become one-line errors naming the endpoint: Alpaca refusing
(4xx) is a :class:`MarketDataError` with the status, no answer after the retries a
:class:`MarketDataUnavailable`, an unreadable body a :class:`MarketDataError` naming the field.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, final

from finagent.adapters.alpaca.data_wire import bar_from_wire
from finagent.adapters.alpaca.http import AlpacaApiError, AlpacaHttp, RetryableError
from finagent.adapters.alpaca.market import read_headlines
from finagent.domain.errors import MarketDataError, MarketDataUnavailable
from finagent.domain.market import Bar, Headline

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import datetime

__all__ = ["BARS", "NEWS", "AlpacaHistory"]

BARS = "GET /v2/stocks/bars"
NEWS = "GET /v1beta1/news"


@contextmanager
def _translate(endpoint: str, attempts: int) -> Iterator[None]:
    try:
        yield
    except RetryableError as exc:
        raise MarketDataUnavailable(
            f"{endpoint}: no answer after {attempts} attempt(s): {exc}"
        ) from exc
    except AlpacaApiError as err:
        raise MarketDataError(f"Alpaca refused {err}") from err
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MarketDataError(f"{endpoint}: malformed response: {exc}") from exc


@final
class AlpacaHistory:
    """Historical daily and minute bars and news over Alpaca's Market Data API."""

    def __init__(self, data: AlpacaHttp, *, feed: str = "iex", page_limit: int = 10_000) -> None:
        self._http = data
        self._feed = feed
        self._limit = page_limit

    async def bars(
        self, symbols: Sequence[str], timeframe: str, start: datetime, end: datetime
    ) -> dict[str, list[Bar]]:
        """Bars of ``timeframe`` (``1Day``, ``1Min``) starting in ``[start, end]``, by symbol.

        Raw prices (``adjustment=raw``): what traded that day, as the scan saw it.
        """
        params: dict[str, Any] = {
            "symbols": ",".join(symbols),
            "timeframe": timeframe,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "limit": self._limit,
            "adjustment": "raw",
            "feed": self._feed,
            "sort": "asc",
        }
        out: dict[str, list[Bar]] = {s: [] for s in symbols}
        with _translate(BARS, self._http.policy.attempts):
            while True:
                body = await self._http.get_json("/v2/stocks/bars", BARS, params)
                for symbol, raws in (body.get("bars") or {}).items():
                    for i, raw in enumerate(raws or []):
                        w = bar_from_wire(raw, f"{symbol}.bars[{i}]")
                        out.setdefault(symbol, []).append(
                            Bar(symbol, w.start, w.open, w.high, w.low, w.close, w.volume)
                        )
                token = body.get("next_page_token")
                if not token:
                    return out
                params["page_token"] = token

    async def news(self, symbols: Sequence[str], start: datetime, end: datetime) -> list[Headline]:
        """Headlines naming any of ``symbols`` published in ``[start, end)``, oldest first."""
        with _translate(NEWS, self._http.policy.attempts):
            return await read_headlines(self._http, symbols, start, end)

"""Market-data bodies shaped as Alpaca's data API sends them: prices and sizes as JSON numbers.

The shapes follow alpaca-py's recorded responses (tests/data/test_historical_stock_data.py):
``"p": 161.1998``, ``"o": 174``, ``"v": 31749988``. Tests store values as ``Decimal``/``int``;
:func:`render` writes them as JSON numbers, or as decimal strings when a test asks for that
(``FakeAlpacaState.data_as_strings``) to show both spellings give the same answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["bar", "render", "snapshot", "utc"]

UTC = ZoneInfo("UTC")


def utc(at: datetime) -> str:
    """An RFC 3339 time as the data API writes it (UTC, nanoseconds, ``Z``)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def bar(at: datetime, o: str, h: str, low: str, c: str, v: int) -> dict[str, Any]:
    """A bar object (``t o h l c v n vw``)."""
    return {"t": utc(at), "o": Decimal(o), "h": Decimal(h), "l": Decimal(low), "c": Decimal(c),
            "v": v, "n": max(v // 100, 1), "vw": Decimal(c)}  # fmt: skip


def snapshot(
    at: datetime, last: str, prev_close: str, *, high: str, low: str, volume: int,
    prev_volume: int, session_day: datetime,
) -> dict[str, Any]:  # fmt: skip
    """A ``/v2/stocks/snapshots`` entry: latest trade and quote, minute, daily and previous bars.

    ``session_day`` is the session's midnight in New York (the daily bar's ``t``).
    """
    px, close = Decimal(last), Decimal(prev_close)
    prev = session_day - timedelta(days=1)
    prev_high, prev_low = str(close + Decimal("0.5")), str(close - Decimal("0.5"))
    return {
        "latestTrade": {"t": utc(at), "x": "V", "p": px, "s": 100, "c": ["@"], "i": 52983525029461,
                        "z": "C"},
        "latestQuote": {"t": utc(at), "ax": "V", "ap": px + Decimal("0.01"), "as": 2, "bx": "V",
                        "bp": px - Decimal("0.01"), "bs": 5, "c": ["R"], "z": "C"},
        "minuteBar": bar(at - timedelta(minutes=1), last, last, last, last, 1200),
        "dailyBar": bar(session_day, prev_close, high, low, last, volume),
        "prevDailyBar": bar(prev, prev_close, prev_high, prev_low, prev_close, prev_volume),
    }  # fmt: skip


def render(body: Any, as_strings: bool) -> Any:
    """``body`` with each ``Decimal`` as a JSON number (``as_strings``: each number as text)."""
    if isinstance(body, dict):
        return {k: render(v, as_strings) for k, v in body.items()}
    if isinstance(body, list):
        return [render(v, as_strings) for v in body]
    if isinstance(body, bool) or not isinstance(body, Decimal | int):
        return body
    if as_strings:
        return str(body)
    if isinstance(body, int) or body == body.to_integral_value():
        return int(body)  # the API writes 174, not 174.0
    return float(body)  # json.dumps writes the shortest repr: 161.1998

"""Alpaca Market Data v2 JSON to values: one parser per wire type (trade, bar, snapshot).

The data API sends prices, sizes and volumes as JSON numbers (alpaca-py types ``Trade.price``
and ``Bar.open`` as ``float``); :func:`~finagent.adapters.alpaca.wire.dec` reads them, and
decimal strings too. Every error names the field it could not read and the value, as a path
from the symbol (``AAPL.latestTrade.p``), so the scan and ``finagent doctor`` report the same
fault the same way. docs/alpaca.md lists the fields and their wire types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from finagent.adapters.alpaca.wire import WireError, dec, timestamp

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime
    from decimal import Decimal

__all__ = [
    "WireBar",
    "WireSnapshot",
    "WireTrade",
    "bar_from_wire",
    "snapshot_from_wire",
    "trade_from_wire",
]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class WireTrade:
    """A trade as the data API sends it (alpaca-py ``Trade``): ``t``, ``p``."""

    at: datetime
    price: Decimal


@dataclass(frozen=True, slots=True)
class WireBar:
    """A bar of any timeframe as the data API sends it (alpaca-py ``Bar``): ``t o h l c v``."""

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(frozen=True, slots=True)
class WireSnapshot:
    """The parts of a snapshot (alpaca-py ``Snapshot``) the scan reads; absent parts are None."""

    latest_trade: WireTrade | None
    daily_bar: WireBar | None
    prev_daily_bar: WireBar | None


def _field(raw: Mapping[str, Any], key: str, where: str, parse: Callable[[Any], _T]) -> _T:
    if not isinstance(raw, dict):
        raise WireError(f"{where}: expected an object, got {raw!r}")
    if key not in raw:
        raise WireError(f"{where}.{key}: missing")
    try:
        return parse(raw[key])
    except WireError as exc:
        raise WireError(f"{where}.{key}: {exc}") from None


def _volume(value: Any) -> int:
    # Stock volumes are whole shares; a fractional one (fractional trading) is truncated.
    return int(dec(value))


def trade_from_wire(raw: Mapping[str, Any], where: str) -> WireTrade:
    """A trade object (``latestTrade``, ``trades/latest``).

    Raises:
        WireError: a field is missing or unreadable; the message names it (``where.field``).
    """
    return WireTrade(_field(raw, "t", where, timestamp), _field(raw, "p", where, dec))


def bar_from_wire(raw: Mapping[str, Any], where: str) -> WireBar:
    """A bar object (``dailyBar``, ``prevDailyBar``, ``bars``).

    Raises:
        WireError: a field is missing or unreadable; the message names it (``where.field``).
    """
    return WireBar(
        start=_field(raw, "t", where, timestamp),
        open=_field(raw, "o", where, dec),
        high=_field(raw, "h", where, dec),
        low=_field(raw, "l", where, dec),
        close=_field(raw, "c", where, dec),
        volume=_field(raw, "v", where, _volume),
    )


def snapshot_from_wire(raw: Mapping[str, Any], where: str) -> WireSnapshot:
    """One symbol's entry of ``/v2/stocks/snapshots`` (``where`` is the symbol).

    Raises:
        WireError: a present part is unreadable; the message names the field.
    """
    if not isinstance(raw, dict):
        raise WireError(f"{where}: expected an object, got {raw!r}")

    def part(key: str, parse: Callable[[Any, str], _T]) -> _T | None:
        value = raw.get(key)
        return None if value is None else parse(value, f"{where}.{key}")

    return WireSnapshot(
        latest_trade=part("latestTrade", trade_from_wire),
        daily_bar=part("dailyBar", bar_from_wire),
        prev_daily_bar=part("prevDailyBar", bar_from_wire),
    )

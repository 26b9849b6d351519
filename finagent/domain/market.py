"""Market values: sessions, pre-market snapshots, 1-minute bars, quotes and headlines.

Every time is a tz-aware ``datetime``; every price is a ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

__all__ = ["BAR", "Bar", "Direction", "Headline", "Quote", "Session", "Side", "Snapshot"]

BAR = timedelta(minutes=1)


class Side(StrEnum):
    """The direction of a position: long profits when the price rises."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        """+1 for long, -1 for short: multiply a price move by it to get the P&L per share."""
        return 1 if self is Side.LONG else -1


class Direction(StrEnum):
    """Which way a stock gapped from the previous close."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Session:
    """One regular session. ``close`` is early on half days; the caller knows the calendar."""

    date: date
    open: datetime
    close: datetime

    def __post_init__(self) -> None:
        if self.open.tzinfo is None or self.close.tzinfo is None:
            raise ValueError("session times must be tz-aware")
        if self.close <= self.open:
            raise ValueError("session close must be after its open")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A symbol as seen at ``at``, usually before the open.

    ``typical_premarket_volume`` is the average pre-market volume up to the same time of day
    over recent sessions: relative volume is ``premarket_volume / typical_premarket_volume``.
    ``atr`` is the 14-day average true range.
    """

    symbol: str
    at: datetime
    last: Decimal
    prev_close: Decimal
    premarket_high: Decimal
    premarket_low: Decimal
    premarket_volume: int
    typical_premarket_volume: int
    atr: Decimal

    @property
    def gap_pct(self) -> Decimal:
        """Percent change of ``last`` from the previous close (signed)."""
        return (self.last / self.prev_close - 1) * 100

    @property
    def relative_volume(self) -> Decimal:
        """Pre-market volume as a multiple of its typical value (0 when there is no history)."""
        if self.typical_premarket_volume <= 0:
            return Decimal(0)
        return Decimal(self.premarket_volume) / Decimal(self.typical_premarket_volume)


@dataclass(frozen=True, slots=True)
class Bar:
    """One complete 1-minute bar that starts at ``start`` and ends one minute later."""

    symbol: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int

    @property
    def end(self) -> datetime:
        """The instant the bar is complete."""
        return self.start + BAR


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid and offer at an instant."""

    symbol: str
    at: datetime
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int

    @property
    def mid(self) -> Decimal:
        """The mid price."""
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class Headline:
    """A news headline about one or more symbols."""

    id: str
    at: datetime
    symbols: tuple[str, ...]
    headline: str
    source: str = "sim"

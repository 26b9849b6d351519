"""The MarketData port: the universe, pre-market snapshots, minute bars and last prices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import date, datetime
    from decimal import Decimal

    from finagent.domain.market import Bar, Snapshot

__all__ = ["MarketData"]


class MarketData(Protocol):
    """Read-only market data. Every time is tz-aware; nothing after ``at``/``end`` is returned.

    Raises ``MarketDataUnavailable`` when the feed cannot answer now.
    """

    async def universe(self, session_date: date) -> Sequence[str]:
        """The tradable symbols for a session, in a stable order."""
        ...

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> Sequence[Snapshot]:
        """Snapshots as of ``at`` for the symbols that have one (unknown symbols are skipped)."""
        ...

    async def minute_bars(self, symbol: str, start: datetime, end: datetime) -> Sequence[Bar]:
        """Complete 1-minute bars with ``start <= bar.start`` and ``bar.end <= end``, in order."""
        ...

    async def last_prices(self, symbols: Sequence[str], at: datetime) -> Mapping[str, Decimal]:
        """The last trade price as of ``at`` for each symbol that has one."""
        ...

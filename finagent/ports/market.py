"""The MarketData port (the universe, pre-market snapshots, minute bars, last prices) and Screener.

``Screener`` is an optional capability: a feed that can screen the market on its side (a
"movers" endpoint, or a simulator that skips what cannot pass) returns only the snapshots that
pass the scan rules, so the scanner need not receive the whole universe. The scanner checks for
it at run time (``isinstance``) and falls back to ``MarketData.snapshots`` without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import date, datetime
    from decimal import Decimal

    from finagent.domain.gaps import ScanRules
    from finagent.domain.market import Bar, Snapshot

__all__ = ["MarketData", "Screener"]


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


@runtime_checkable
class Screener(Protocol):
    """A feed that screens on its side. Raises ``MarketDataUnavailable`` like MarketData."""

    async def screen(
        self, symbols: Sequence[str], at: datetime, rules: ScanRules
    ) -> Sequence[Snapshot]:
        """Snapshots as of ``at``, among ``symbols``, of at least every symbol passing ``rules``.

        The same values ``snapshots(symbols, at)`` gives for those symbols; it may return more
        (the caller applies ``rules`` itself), never fewer.
        """
        ...

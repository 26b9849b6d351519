"""The News port: headlines about symbols in a time window."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from finagent.domain.market import Headline

__all__ = ["News"]


class News(Protocol):
    """Read-only news. Raises ``MarketDataUnavailable`` when the feed cannot answer now."""

    async def headlines(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Sequence[Headline]:
        """Headlines naming any of ``symbols`` published in ``[start, end)``, oldest first."""
        ...

"""The Clock port: exchange-independent "now" and sleeping, real or virtual."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["Clock"]


class Clock(Protocol):
    """Maps Trio time to wall time. Virtual clocks derive now from epoch + trio.current_time()."""

    def now(self) -> datetime:
        """The current instant, tz-aware (UTC)."""
        ...

    def timestamp(self) -> float:
        """The current instant as epoch seconds."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until ``when`` (tz-aware); returns at once if it has passed."""
        ...

"""The exchange calendar port: sessions, holidays and early closes of one exchange.

Also the schedule cursor: where the scheduler got to, so a restart can tell a missed
run from one that already fired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import date, datetime

    from finagent.domain.schedule import ClosedDay, Session

__all__ = ["ExchangeCalendar", "ScheduleCursor"]


class ExchangeCalendar(Protocol):
    """One exchange's trading calendar. Calls are synchronous and CPU-only (data in memory)."""

    @property
    def name(self) -> str:
        """The calendar's code, e.g. ``XNYS``."""
        ...

    @property
    def timezone(self) -> str:
        """The exchange's IANA zone, e.g. ``America/New_York``."""
        ...

    def sessions(self, start: date, end: date) -> list[Session]:
        """Sessions whose date is in ``[start, end]``, in date order."""
        ...

    def closed_days(self, start: date, end: date) -> list[ClosedDay]:
        """Weekdays in ``[start, end]`` without a session (holidays), in date order."""
        ...


class ScheduleCursor(Protocol):
    """Durable progress of the scheduler: every firing at or before it was handled."""

    async def load(self) -> datetime | None:
        """The last handled fire time (tz-aware), or None if never saved."""
        ...

    async def save(self, handled: datetime) -> None:
        """Record that every firing at or before ``handled`` was fired or skipped."""
        ...

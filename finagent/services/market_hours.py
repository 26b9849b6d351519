"""Is the exchange's regular session open now? From the calendar port and the daemon's clock.

``finagent_market_open`` is set from this (by the trading watch, every poll): a dashboard reads
it instead of guessing from ``finagent_trading_state``, which says what the agent *may* do, not
whether the market is open (a Saturday is "trading" there: nothing stops an entry but the
calendar).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from datetime import date, datetime

    from finagent.domain.schedule import Session
    from finagent.ports.calendar import ExchangeCalendar

__all__ = ["MarketHours"]


@final
class MarketHours:
    """The calendar's sessions around a day, cached per day (a poll a second stays cheap)."""

    def __init__(self, calendar: ExchangeCalendar) -> None:
        self._calendar = calendar
        self._day: date | None = None
        self._sessions: list[Session] = []

    def is_open(self, now: datetime) -> bool:
        """True from a session's open (inclusive) to its close (exclusive)."""
        day = now.date()  # UTC: the sessions of the day before and after cover every zone
        if day != self._day:
            self._sessions = self._calendar.sessions(
                day - timedelta(days=1), day + timedelta(days=1)
            )
            self._day = day
        return any(s.open <= now < s.close for s in self._sessions)

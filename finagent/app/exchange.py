"""The exchange calendar and the wall clock, for commands that plan or check without a daemon."""

from __future__ import annotations

from finagent.adapters.clocks import SystemClock
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar

__all__ = ["exchange_calendar", "system_clock"]


def exchange_calendar(name: str) -> XcalsExchangeCalendar:
    """The calendar by code (``XNYS``...); raises ``ScheduleError`` for an unknown code."""
    return XcalsExchangeCalendar(name)


def system_clock() -> SystemClock:
    """The real wall clock (UTC)."""
    return SystemClock()

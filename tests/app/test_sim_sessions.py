"""``sim_session_for``: the simulated market's sessions from the exchange calendar, cached."""

from __future__ import annotations

from datetime import date

from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.app.parts import sim_session_for
from finagent.domain.schedule import Session as CalendarSession


class _CountingCalendar(XcalsExchangeCalendar):
    """XNYS, counting the calendar look-ups."""

    def __init__(self) -> None:
        super().__init__("XNYS")
        self.calls = 0

    def sessions(self, start: date, end: date) -> list[CalendarSession]:
        self.calls += 1
        return super().sessions(start, end)


def test_each_day_is_looked_up_once_holidays_included() -> None:
    calendar = _CountingCalendar()
    session_for = sim_session_for(calendar)
    early = session_for(date(2024, 11, 29))  # the day after Thanksgiving: closes at 13:00 ET
    assert early is not None and (early.close - early.open).total_seconds() == 3.5 * 3600
    assert session_for(date(2024, 12, 25)) is None  # Christmas: no session
    assert session_for(date(2024, 11, 29)) is early and session_for(date(2024, 12, 25)) is None
    assert calendar.calls == 2


def test_the_cache_keeps_at_most_512_days() -> None:
    """A daemon running for years asks for every day: the oldest days are let go."""
    from datetime import timedelta

    calendar = _CountingCalendar()
    session_for = sim_session_for(calendar)
    first = date(2020, 1, 1)
    for n in range(600):
        session_for(first + timedelta(days=n))
    session_for(first + timedelta(days=599))  # recent: still cached
    assert calendar.calls == 600
    session_for(first)  # the oldest was let go: looked up again
    assert calendar.calls == 601

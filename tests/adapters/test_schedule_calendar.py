"""The exchange_calendars adapter: sessions, early closes, holiday names, range growth."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.domain.schedule import ClosedDay, ScheduleError, Session


@pytest.fixture(scope="module")
def xnys():
    return XcalsExchangeCalendar()


def test_default_is_the_new_york_stock_exchange(xnys):
    assert xnys.name == "XNYS"
    assert xnys.timezone == "America/New_York"


def test_thanksgiving_week_sessions_with_the_early_close(xnys):
    got = xnys.sessions(date(2026, 11, 25), date(2026, 11, 29))
    assert got == [
        Session(
            date(2026, 11, 25),
            datetime(2026, 11, 25, 14, 30, tzinfo=UTC),
            datetime(2026, 11, 25, 21, 0, tzinfo=UTC),
            early_close=False,
        ),
        Session(
            date(2026, 11, 27),
            datetime(2026, 11, 27, 14, 30, tzinfo=UTC),
            datetime(2026, 11, 27, 18, 0, tzinfo=UTC),
            early_close=True,
        ),
    ]
    assert got[0].open.tzinfo is UTC


def test_closed_days_are_holidays_with_names_not_weekends(xnys):
    assert xnys.closed_days(date(2026, 11, 23), date(2027, 1, 3)) == [
        ClosedDay(date(2026, 11, 26), "Thanksgiving"),
        ClosedDay(date(2026, 12, 25), "Christmas"),
        ClosedDay(date(2027, 1, 1), "New Year's Day"),
    ]


def test_empty_and_reversed_ranges(xnys):
    assert xnys.sessions(date(2026, 11, 28), date(2026, 11, 29)) == []
    assert xnys.sessions(date(2026, 11, 29), date(2026, 11, 23)) == []
    assert xnys.closed_days(date(2026, 11, 29), date(2026, 11, 23)) == []


def test_queries_past_the_built_range_grow_the_calendar():
    cal = XcalsExchangeCalendar("XNYS", start=date(2026, 1, 1))
    (session,) = cal.sessions(date(2031, 1, 2), date(2031, 1, 2))
    assert session.open == datetime(2031, 1, 2, 14, 30, tzinfo=UTC)
    assert cal.sessions(date(2025, 12, 31), date(2025, 12, 31))[0].date == date(2025, 12, 31)


def test_other_exchanges_by_code():
    assert XcalsExchangeCalendar("XLON").timezone == "Europe/London"


def test_unknown_calendar_is_a_schedule_error():
    with pytest.raises(ScheduleError, match=r"^exchange.calendar: unknown calendar 'XMARS'$"):
        XcalsExchangeCalendar("XMARS")


def test_the_adapter_offers_every_member_of_the_port(xnys):
    from finagent.ports.calendar import ExchangeCalendar

    members = {name for name in vars(ExchangeCalendar) if not name.startswith("_")}
    assert members == {"name", "timezone", "sessions", "closed_days"}
    assert all(hasattr(xnys, name) for name in members)


def test_dates_beyond_what_pandas_holds_are_a_schedule_error():
    calendar = XcalsExchangeCalendar()
    with pytest.raises(ScheduleError, match="outside the dates it can hold"):
        calendar.sessions(date(2262, 1, 1), date(2262, 1, 5))
    with pytest.raises(ScheduleError, match="outside the dates it can hold"):
        calendar.sessions(date(1, 1, 1), date(1, 1, 5))

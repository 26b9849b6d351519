"""Firing times from entries + the real XNYS calendar: DST, holidays, early closes, crons."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.domain.schedule import DEFAULT_JOB_TYPES, EntryValues, ScheduleError
from finagent.services.schedule_plan import check_zone, compile_entries, firings_between

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")

DEFAULTS = {
    "premarket_scan": EntryValues("scan", at="open-30m", grace_s=1500),
    "time_stop": EntryValues("time_stop", at="close-30m", grace_s=900),
    "flatten": EntryValues("flatten", at="close-5m", grace_s=240),
    "daily_report": EntryValues("report", at="close+5m", grace_s=6 * 3600),
}


@pytest.fixture(scope="module")
def xnys():
    return XcalsExchangeCalendar("XNYS")


def _compile(values):
    return compile_entries(
        values, known_job_types=DEFAULT_JOB_TYPES, exchange_tz="America/New_York"
    )


def _day(calendar, values, day):
    """Firings whose exchange-local date is ``day``, as (entry, 'HH:MM' in New York)."""
    start = datetime(day.year, day.month, day.day, tzinfo=NY)
    firings = firings_between(
        _compile(values), calendar, start - timedelta(seconds=1), start + timedelta(days=1)
    )
    return [
        (f.entry.name, f.fire_time.astimezone(NY).strftime("%H:%M"))
        for f in firings
        if f.session_date == day
    ]


@pytest.mark.parametrize(
    ("day", "berlin"),
    [
        (date(2026, 3, 6), "15:00"),  # both on winter time: 6 h
        (date(2026, 3, 9), "14:00"),  # US on DST since 03-08, EU not until 03-29: 5 h
        (date(2026, 3, 27), "14:00"),
        (date(2026, 3, 30), "15:00"),  # both on summer time: 6 h
        (date(2026, 10, 23), "15:00"),
        (date(2026, 10, 26), "14:00"),  # EU back on 10-25, US not until 11-01: 5 h
        (date(2026, 10, 30), "14:00"),
        (date(2026, 11, 2), "15:00"),
    ],
)
def test_fire_times_stay_in_exchange_time_across_both_dst_changes(xnys, day, berlin):
    start = datetime(day.year, day.month, day.day, tzinfo=NY)
    firings = firings_between(_compile(DEFAULTS), xnys, start, start + timedelta(days=1))
    scan = next(f for f in firings if f.entry.name == "premarket_scan")
    assert scan.fire_time.astimezone(NY).strftime("%H:%M") == "09:00"
    assert scan.fire_time.astimezone(BERLIN).strftime("%H:%M") == berlin
    flatten = next(f for f in firings if f.entry.name == "flatten")
    assert flatten.fire_time.astimezone(NY).strftime("%H:%M") == "15:55"


def test_open_moves_one_hour_in_utc_when_the_us_changes_clocks(xnys):
    before = _compile(DEFAULTS)
    fri = firings_between(
        before, xnys, datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC)
    )
    mon = firings_between(
        before, xnys, datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
    )
    assert fri[0].fire_time == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)
    assert mon[0].fire_time == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 11, 26),
        date(2026, 12, 25),
        date(2027, 1, 1),
        date(2026, 11, 28),
        date(2026, 11, 29),
    ],
)
def test_nothing_fires_on_holidays_and_weekends(xnys, day):
    assert _day(xnys, DEFAULTS, day) == []


@pytest.mark.parametrize("day", [date(2026, 11, 27), date(2026, 12, 24)])
def test_an_early_close_moves_close_relative_entries(xnys, day):
    assert _day(xnys, DEFAULTS, day) == [
        ("premarket_scan", "09:00"),
        ("time_stop", "12:30"),
        ("flatten", "12:55"),
        ("daily_report", "13:05"),
    ]


def test_a_regular_day_fires_every_default_entry(xnys):
    assert _day(xnys, DEFAULTS, date(2026, 11, 25)) == [
        ("premarket_scan", "09:00"),
        ("time_stop", "15:30"),
        ("flatten", "15:55"),
        ("daily_report", "16:05"),
    ]


def test_early_close_is_on_the_session_and_in_the_payload(xnys):
    start = datetime(2026, 11, 27, tzinfo=NY)
    firings = firings_between(_compile(DEFAULTS), xnys, start, start + timedelta(days=1))
    assert all(f.session is not None and f.session.early_close for f in firings)
    assert firings[0].payload()["session_close"] == "2026-11-27T18:00:00Z"


def test_wall_time_entry_fires_in_exchange_time_on_sessions_only(xnys):
    values = {"morning": EntryValues("scan", at="08:00")}
    assert _day(xnys, values, date(2026, 3, 9)) == [("morning", "08:00")]
    assert _day(xnys, values, date(2026, 11, 26)) == []


def test_wall_time_entry_with_sessions_only_false_fires_every_day(xnys):
    values = {"morning": EntryValues("report", at="08:00", sessions_only=False)}
    assert _day(xnys, values, date(2026, 11, 26)) == [("morning", "08:00")]
    assert _day(xnys, values, date(2026, 11, 28)) == [("morning", "08:00")]
    start = datetime(2026, 11, 28, tzinfo=NY)
    (firing,) = firings_between(_compile(values), xnys, start, start + timedelta(days=1))
    assert firing.session is None
    assert firing.payload()["session_open"] is None


def test_cron_in_exchange_zone_keeps_wall_time_across_dst(xnys):
    values = {"nine": EntryValues("scan", cron="0 9 * * *")}
    start = datetime(2026, 3, 5, tzinfo=NY)
    firings = firings_between(_compile(values), xnys, start, start + timedelta(days=6))
    # Thu, Fri, (weekend skipped: sessions_only), Mon, Tue
    assert [f.fire_time.astimezone(NY).strftime("%m-%d %H:%M") for f in firings] == [
        "03-05 09:00",
        "03-06 09:00",
        "03-09 09:00",
        "03-10 09:00",
    ]
    assert firings[2].key == "schedule:nine:2026-03-09@2026-03-09T13:00:00Z"


def test_cron_in_its_own_zone(xnys):
    values = {"berlin": EntryValues("report", cron="0 15 * * *", tz="Europe/Berlin")}
    assert _day(xnys, values, date(2026, 3, 9)) == [("berlin", "10:00")]  # 5 h apart
    assert _day(xnys, values, date(2026, 3, 30)) == [("berlin", "09:00")]  # 6 h apart


def test_cron_with_sessions_only_false_fires_on_holidays(xnys):
    values = {"hourly": EntryValues("report", cron="0 */6 * * *", sessions_only=False)}
    got = _day(xnys, values, date(2026, 11, 26))
    assert [t for _, t in got] == ["00:00", "06:00", "12:00", "18:00"]


def test_firings_are_half_open_after_until_inclusive(xnys):
    entries = _compile(DEFAULTS)
    fire = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert [
        f.entry.name for f in firings_between(entries, xnys, fire - timedelta(seconds=1), fire)
    ] == ["premarket_scan"]
    assert firings_between(entries, xnys, fire, fire + timedelta(seconds=1)) == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"a": EntryValues("scan", cron="61 * * * *")},
            "schedule.a: invalid cron '61 * * * *': Bad minute",
        ),
        (
            {"a": EntryValues("scan", cron="* * * *")},
            "schedule.a: invalid cron '* * * *': Wrong number of fields",
        ),
        (
            {"a": EntryValues("scan", at="09:00", tz="Mars/Olympus")},
            "schedule.a.tz: unknown time zone 'Mars/Olympus'",
        ),
        (
            {"a": EntryValues("scan", at="09:00", grace_s=-1)},
            "schedule.a: grace_s must be >= 0, got -1",
        ),
        ({"a": EntryValues("scan", at="9 o'clock")}, "schedule.a: cannot parse at"),
        ({"a": EntryValues("scan", at="09:00", cron="0 9 * * *")}, "schedule.a: set either"),
        ({"a": EntryValues("scan")}, "schedule.a: set one of"),
        ({"a": EntryValues("nap", at="09:00")}, "schedule.a: unknown job_type 'nap'"),
    ],
)
def test_every_bad_config_is_a_one_line_schedule_error(values, message):
    with pytest.raises(ScheduleError) as info:
        _compile({"ok": EntryValues("scan", at="open"), **values})
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_unknown_exchange_zone_is_named():
    with pytest.raises(
        ScheduleError, match=r"^exchange.timezone: unknown time zone 'Nowhere/Land'$"
    ):
        check_zone("Nowhere/Land", "exchange.timezone")
    assert check_zone("Europe/Berlin", "x") == "Europe/Berlin"


def test_an_entry_without_tz_takes_the_exchange_zone():
    (entry,) = compile_entries(
        {"a": EntryValues("scan", cron="0 9 * * *")},
        known_job_types={"scan"},
        exchange_tz="Europe/London",
    )
    assert entry.tz == "Europe/London"
    assert entry.grace == timedelta(seconds=300)

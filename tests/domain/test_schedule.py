"""Pure schedule rules: `at:` parsing, overrides, entry checks, keys, deadlines, payloads."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from finagent.domain.schedule import (
    DEFAULT_JOB_TYPES,
    Anchor,
    Decision,
    Entry,
    EntryValues,
    Firing,
    ScheduleError,
    Session,
    SessionOffset,
    WallTime,
    apply_at_overrides,
    check_entry,
    decide,
    parse_at,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("open-30m", SessionOffset(Anchor.OPEN, timedelta(minutes=-30))),
        ("open+5m", SessionOffset(Anchor.OPEN, timedelta(minutes=5))),
        ("close-5m", SessionOffset(Anchor.CLOSE, timedelta(minutes=-5))),
        ("close + 1h30m", SessionOffset(Anchor.CLOSE, timedelta(hours=1, minutes=30))),
        ("Open-90s", SessionOffset(Anchor.OPEN, timedelta(seconds=-90))),
        ("close", SessionOffset(Anchor.CLOSE, timedelta(0))),
        ("09:00", WallTime(time(9, 0))),
        (" 8:45 ", WallTime(time(8, 45))),
        ("23:59:30", WallTime(time(23, 59, 30))),
    ],
)
def test_parse_at_accepts_session_offsets_and_wall_times(spec, expected):
    assert parse_at(spec) == expected


@pytest.mark.parametrize(
    "spec", ["", "noon", "open-", "open-30", "open*5m", "close-5x", "24:00", "09:60", "9", "9:5"]
)
def test_parse_at_rejects_garbage_with_a_hint(spec):
    with pytest.raises(ValueError, match="at"):
        parse_at(spec)


@pytest.mark.parametrize(
    "spec", ["open-30m", "close+1h30m", "open", "close-1h2m3s", "09:00", "09:00:30"]
)
def test_at_specs_print_back_as_written(spec):
    assert str(parse_at(spec)) == spec


def test_check_entry_returns_the_parsed_at_or_none_for_cron():
    assert check_entry("x", EntryValues("scan", at="open-30m"), DEFAULT_JOB_TYPES) == SessionOffset(
        Anchor.OPEN, timedelta(minutes=-30)
    )
    assert check_entry("x", EntryValues("scan", cron="0 9 * * *"), DEFAULT_JOB_TYPES) is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            EntryValues("scan", cron="0 9 * * *", at="09:00"),
            "schedule.e: set either 'cron' or 'at', not both",
        ),
        (EntryValues("scan"), "schedule.e: set one of 'cron' or 'at'"),
        (
            EntryValues("rebalance", at="09:00"),
            "schedule.e: unknown job_type 'rebalance' (known: flatten, ",
        ),
        (EntryValues("scan", at="lunch"), "schedule.e: cannot parse at 'lunch'"),
    ],
)
def test_check_entry_errors_name_the_entry_in_one_line(values, message):
    with pytest.raises(ScheduleError) as info:
        check_entry("e", values, DEFAULT_JOB_TYPES)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


ENTRIES = {
    "premarket_scan": EntryValues("scan", at="open-30m"),
    "hourly": EntryValues("scan", cron="0 * * * *"),
}


def test_at_override_replaces_the_trigger_for_one_run():
    out = apply_at_overrides(ENTRIES, ["premarket_scan=08:45", " hourly = close-5m "])
    assert out["premarket_scan"] == EntryValues("scan", at="08:45")
    assert out["hourly"] == EntryValues("scan", at="close-5m", cron=None)
    assert ENTRIES["premarket_scan"].at == "open-30m"  # the input is not changed


def test_no_overrides_is_identity():
    assert apply_at_overrides(ENTRIES, []) == ENTRIES


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("premarket_scan", "--at 'premarket_scan': expected NAME=SPEC"),
        ("=08:45", "--at '=08:45': expected NAME=SPEC"),
        ("premarket_scan=", "--at 'premarket_scan=': expected NAME=SPEC"),
        (
            "lunch=12:00",
            "--at 'lunch=12:00': unknown schedule entry 'lunch' (known: hourly, premarket_scan)",
        ),
        ("premarket_scan=8.45", "--at 'premarket_scan=8.45': cannot parse at '8.45'"),
    ],
)
def test_bad_at_overrides_fail_with_a_clear_error(item, message):
    with pytest.raises(ScheduleError) as info:
        apply_at_overrides(ENTRIES, [item])
    assert str(info.value).startswith(message)


def _entry(name="flatten", *, at=None, cron=None, grace_s=240.0):
    return Entry(
        name=name,
        job_type="flatten",
        at=parse_at(at) if at else None,
        cron=cron,
        tz="America/New_York",
        sessions_only=True,
        grace=timedelta(seconds=grace_s),
    )


SESSION = Session(
    date=date(2026, 11, 27),
    open=datetime(2026, 11, 27, 14, 30, tzinfo=UTC),
    close=datetime(2026, 11, 27, 18, 0, tzinfo=UTC),
    early_close=True,
)


def test_key_is_entry_and_session_date_for_at_entries():
    firing = Firing(
        _entry(at="close-5m"), datetime(2026, 11, 27, 17, 55, tzinfo=UTC), SESSION.date, SESSION
    )
    assert firing.key == "schedule:flatten:2026-11-27"


def test_key_carries_the_utc_instant_for_cron_entries():
    firing = Firing(
        _entry(cron="0 * * * *"), datetime(2026, 11, 28, 1, 0, tzinfo=UTC), SESSION.date, None
    )
    assert firing.key == "schedule:flatten:2026-11-27@2026-11-28T01:00:00Z"


def test_payload_tells_services_the_session():
    firing = Firing(
        _entry(at="close-5m"), datetime(2026, 11, 27, 17, 55, tzinfo=UTC), SESSION.date, SESSION
    )
    job = firing.job()
    assert job.type == "flatten"
    assert job.key == "schedule:flatten:2026-11-27"
    assert job.run_at is None
    assert job.payload == {
        "schedule": "flatten",
        "session_date": "2026-11-27",
        "scheduled_for": "2026-11-27T17:55:00Z",
        "session_open": "2026-11-27T14:30:00Z",
        "session_close": "2026-11-27T18:00:00Z",
        "early_close": True,
    }


def test_payload_without_a_session_has_null_open_and_close():
    firing = Firing(
        _entry(cron="0 9 * * *"),
        datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
        date(2026, 11, 26),
        None,
    )
    assert firing.payload()["session_open"] is None
    assert firing.payload()["early_close"] is False
    assert firing.deadline == datetime(2026, 11, 26, 14, 4, tzinfo=UTC)


def test_deadline_is_fire_time_plus_grace():
    fire = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    firing = Firing(_entry(at="open-30m", grace_s=600), fire, SESSION.date, SESSION)
    assert firing.deadline == fire + timedelta(minutes=10)


def test_a_pre_close_firing_never_runs_after_the_close_even_within_grace():
    fire = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    firing = Firing(_entry(at="open-30m", grace_s=6 * 3600), fire, SESSION.date, SESSION)
    assert firing.deadline == SESSION.close
    assert decide(firing, SESSION.close) is Decision.LATE
    assert decide(firing, SESSION.close + timedelta(seconds=1)) is Decision.SKIP


def test_a_post_close_firing_keeps_its_full_grace():
    fire = datetime(2026, 11, 27, 18, 5, tzinfo=UTC)
    firing = Firing(_entry(at="close+5m", grace_s=3600), fire, SESSION.date, SESSION)
    assert firing.deadline == fire + timedelta(hours=1)


def test_decide_fire_late_skip():
    fire = datetime(2026, 11, 27, 17, 55, tzinfo=UTC)
    firing = Firing(_entry(at="close-5m", grace_s=240), fire, SESSION.date, SESSION)
    assert decide(firing, fire - timedelta(microseconds=1)) is Decision.FIRE
    assert decide(firing, fire) is Decision.FIRE
    assert decide(firing, fire + timedelta(seconds=240)) is Decision.LATE
    assert decide(firing, fire + timedelta(seconds=241)) is Decision.SKIP


def test_entry_spec_describes_the_trigger():
    assert _entry(at="close-5m").spec == "at close-5m"
    assert _entry(cron="0 9 * * 1-5").spec == "cron 0 9 * * 1-5 (America/New_York)"

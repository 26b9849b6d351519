"""The scheduler actor under MockClock: a 5-day run, restarts, grace windows, skips."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import trio

from finagent.adapters.clocks import VirtualClock
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.domain.schedule import DEFAULT_JOB_TYPES, EntryValues
from finagent.services.schedule_plan import compile_entries
from finagent.services.scheduler import MemoryScheduleCursor, Scheduler, SkipCounter
from tests.fakes.queue import FakeQueue

NY = ZoneInfo("America/New_York")

DEFAULTS = {
    "premarket_scan": EntryValues("scan", at="open-30m", grace_s=1500),
    "time_stop": EntryValues("time_stop", at="close-30m", grace_s=900),
    "flatten": EntryValues("flatten", at="close-5m", grace_s=240),
    "daily_report": EntryValues("report", at="close+5m", grace_s=6 * 3600),
}


@pytest.fixture(scope="module")
def xnys():
    return XcalsExchangeCalendar("XNYS")


def _entries(values=DEFAULTS):
    return compile_entries(
        values, known_job_types=DEFAULT_JOB_TYPES, exchange_tz="America/New_York"
    )


def _ny(month, day, hh=0, mm=0):
    return datetime(2026, month, day, hh, mm, tzinfo=NY)


async def _run_until(scheduler, clock, end):
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: scheduler.serve(task_status=task_status))
        await clock.sleep_until(end)
        nursery.cancel_scope.cancel()


def _fired(queue):
    return [
        (key.split(":")[1], at.astimezone(NY).strftime("%a %m-%d %H:%M:%S"))
        for key, at in queue.calls
    ]


async def test_a_five_day_run_fires_exactly_the_expected_list(autojump_clock, xnys):
    values = {**DEFAULTS, "noon": EntryValues("scan", cron="0 12 * * 1-5")}
    clock = VirtualClock(_ny(11, 23))  # Monday of Thanksgiving week, midnight in New York
    queue = FakeQueue(clock)
    await _run_until(Scheduler(_entries(values), xnys, clock, queue), clock, _ny(11, 28))

    regular = ["09:00", "12:00", "15:30", "15:55", "16:05"]
    names = ["premarket_scan", "noon", "time_stop", "flatten", "daily_report"]
    expected = []
    for day in ("Mon 11-23", "Tue 11-24", "Wed 11-25"):
        expected += [(n, f"{day} {t}:00") for n, t in zip(names, regular, strict=True)]
    # Thursday 11-26 is Thanksgiving: nothing. Friday 11-27 closes early at 13:00.
    early = ["09:00", "12:00", "12:30", "12:55", "13:05"]
    expected += [(n, f"Fri 11-27 {t}:00") for n, t in zip(names, early, strict=True)]
    assert _fired(queue) == expected
    assert len(queue.jobs) == 20
    flatten = queue.jobs["schedule:flatten:2026-11-27"]
    assert flatten.type == "flatten"
    assert flatten.payload["scheduled_for"] == "2026-11-27T17:55:00Z"
    assert flatten.payload["session_close"] == "2026-11-27T18:00:00Z"
    assert flatten.payload["early_close"] is True
    assert "schedule:noon:2026-11-27@2026-11-27T17:00:00Z" in queue.jobs


async def test_the_cursor_advances_past_each_firing(autojump_clock, xnys):
    clock = VirtualClock(_ny(11, 25, 12))
    cursor = MemoryScheduleCursor()
    scheduler = Scheduler(_entries(), xnys, clock, FakeQueue(clock), cursor=cursor)
    await _run_until(scheduler, clock, _ny(11, 25, 16))
    assert cursor.handled == _ny(11, 25, 15, 55)


async def test_restart_inside_the_grace_window_fires_once_late(autojump_clock, xnys, caplog):
    caplog.set_level(logging.INFO, "finagent.services.scheduler")
    cursor = MemoryScheduleCursor(_ny(11, 24, 16, 5))  # the last run handled Tuesday's report
    clock = VirtualClock(_ny(11, 25, 9, 10))  # down at 09:00, back at 09:10 (grace 25 min)
    queue = FakeQueue(clock)
    skips = SkipCounter()
    await _run_until(
        Scheduler(_entries(), xnys, clock, queue, cursor=cursor, on_skipped=skips),
        clock,
        _ny(11, 25, 9, 20),
    )
    # a second restart ten minutes later must not fire it again
    await _run_until(
        Scheduler(_entries(), xnys, clock, queue, cursor=cursor, on_skipped=skips),
        clock,
        _ny(11, 25, 9, 30),
    )
    assert _fired(queue) == [("premarket_scan", "Wed 11-25 09:10:00")]
    assert skips.skipped == {}
    assert "schedule premarket_scan fired late by 600s" in caplog.text


async def test_a_restart_without_cursor_or_a_second_daemon_never_enqueues_twice(
    autojump_clock, xnys
):
    clock = VirtualClock(_ny(11, 25, 8, 55))
    queue = FakeQueue(clock)
    first = Scheduler(_entries(), xnys, clock, queue)
    second = Scheduler(_entries(), xnys, clock, queue)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: first.serve(task_status=task_status))
        await clock.sleep_until(_ny(11, 25, 9, 5))
        await nursery.start(
            lambda task_status: second.serve(task_status=task_status)
        )  # restart at 09:05
        await clock.sleep_until(_ny(11, 25, 9, 30))
        nursery.cancel_scope.cancel()
    assert [key for key, _ in queue.calls] == ["schedule:premarket_scan:2026-11-25"] * 2
    assert list(queue.jobs) == ["schedule:premarket_scan:2026-11-25"]


async def test_restart_after_the_grace_window_skips_and_counts(autojump_clock, xnys, caplog):
    cursor = MemoryScheduleCursor(_ny(11, 24, 16, 5))
    clock = VirtualClock(_ny(11, 25, 9, 26))  # grace of the 09:00 scan ended at 09:25
    queue = FakeQueue(clock)
    skips = SkipCounter()
    await _run_until(
        Scheduler(_entries(), xnys, clock, queue, cursor=cursor, on_skipped=skips),
        clock,
        _ny(11, 25, 16),
    )
    assert skips.skipped == {"premarket_scan": 1}
    assert _fired(queue) == [("time_stop", "Wed 11-25 15:30:00"), ("flatten", "Wed 11-25 15:55:00")]
    assert cursor.handled == _ny(11, 25, 15, 55)
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage().startswith("schedule premarket_scan skipped")
    assert record.key == "schedule:premarket_scan:2026-11-25"


async def test_a_premarket_scan_never_fires_after_the_close_even_within_grace(autojump_clock, xnys):
    values = {"premarket_scan": EntryValues("scan", at="open-30m", grace_s=12 * 3600)}
    cursor = MemoryScheduleCursor(_ny(11, 24, 9))
    clock = VirtualClock(_ny(11, 25, 16, 1))  # back one minute after the close
    queue = FakeQueue(clock)
    skips = SkipCounter()
    await _run_until(
        Scheduler(_entries(values), xnys, clock, queue, cursor=cursor, on_skipped=skips),
        clock,
        _ny(11, 25, 17),
    )
    assert queue.calls == []
    assert skips.skipped == {"premarket_scan": 1}


async def test_a_long_outage_reports_every_missed_run(autojump_clock, xnys):
    cursor = MemoryScheduleCursor(_ny(11, 20, 16, 5))  # last handled: the Friday before
    clock = VirtualClock(_ny(11, 25, 12))
    queue = FakeQueue(clock)
    skips = SkipCounter()
    await _run_until(
        Scheduler(_entries(), xnys, clock, queue, cursor=cursor, on_skipped=skips),
        clock,
        _ny(11, 25, 12, 1),
    )
    # Mon and Tue: all four; Wed: the 09:00 scan. Tuesday's report (16:05 + 6 h) ran out at 22:05.
    assert skips.skipped == {"premarket_scan": 3, "time_stop": 2, "flatten": 2, "daily_report": 2}
    assert queue.calls == []


async def test_without_a_cursor_old_misses_stay_silent(autojump_clock, xnys):
    clock = VirtualClock(_ny(11, 25, 9, 40))
    queue = FakeQueue(clock)
    skips = SkipCounter()
    values = {**DEFAULTS, "premarket_scan": EntryValues("scan", at="open-30m", grace_s=60)}
    await _run_until(
        Scheduler(_entries(values), xnys, clock, queue, on_skipped=skips), clock, _ny(11, 25, 10)
    )
    assert skips.skipped == {}
    assert queue.calls == []


async def test_an_empty_schedule_just_sleeps(autojump_clock, xnys):
    clock = VirtualClock(_ny(11, 25))
    queue = FakeQueue(clock)
    await _run_until(Scheduler([], xnys, clock, queue), clock, _ny(11, 28))
    assert queue.calls == []


async def test_run_is_the_actor_entry_point_under_a_supervisor(autojump_clock, xnys):
    from actors import ChildSpec, SupervisorSpec, open_supervisor

    clock = VirtualClock(_ny(11, 25, 8, 59))
    queue = FakeQueue(clock)
    spec = SupervisorSpec(
        "root", [ChildSpec("scheduler", Scheduler(_entries(), xnys, clock, queue).run)]
    )
    async with open_supervisor(spec):
        await clock.sleep_until(_ny(11, 25, 9, 1))
    # stopped cleanly at 09:01; nothing fires afterwards
    await clock.sleep_until(_ny(11, 25, 17))
    assert [key for key, _ in queue.calls] == ["schedule:premarket_scan:2026-11-25"]


async def test_a_skip_without_a_metric_hook_is_still_logged(autojump_clock, xnys, caplog):
    cursor = MemoryScheduleCursor(_ny(11, 24, 16, 5))
    clock = VirtualClock(_ny(11, 25, 9, 26))
    queue = FakeQueue(clock)
    await _run_until(
        Scheduler(_entries(), xnys, clock, queue, cursor=cursor), clock, _ny(11, 25, 9, 27)
    )
    assert "schedule premarket_scan skipped" in caplog.text
    assert cursor.handled == _ny(11, 25, 9)
    assert queue.calls == []


async def test_a_firing_less_than_a_second_behind_is_logged_on_time(autojump_clock, xnys, caplog):
    from datetime import timedelta

    caplog.set_level(logging.INFO, "finagent.services.scheduler")
    cursor = MemoryScheduleCursor(_ny(11, 24, 16, 5))
    clock = VirtualClock(_ny(11, 25, 9) + timedelta(milliseconds=400))  # 0.4 s behind 09:00
    queue = FakeQueue(clock)
    await _run_until(
        Scheduler(_entries(), xnys, clock, queue, cursor=cursor), clock, _ny(11, 25, 9, 1)
    )
    assert _fired(queue) == [("premarket_scan", "Wed 11-25 09:00:00")]
    assert "schedule premarket_scan fired on time" in caplog.text
    assert "late" not in caplog.text

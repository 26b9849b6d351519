"""``app.simulate``: the default session, and a daily report that is late or never scheduled."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.app.database import list_jobs, read_report
from finagent.app.simulate import _percentile, find_session, run_simulation
from finagent.settings import load_settings

DAY = date(2025, 1, 6)


@pytest.fixture(scope="module")
def calendar() -> XcalsExchangeCalendar:
    return XcalsExchangeCalendar("XNYS")


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2025, 1, 3), date(2025, 1, 6)),  # a Friday: the next session is Monday
        (date(2024, 12, 24), date(2024, 12, 26)),  # Christmas Day is skipped
        (date(2025, 1, 6), date(2025, 1, 7)),  # today's session is not "next"
    ],
)
def test_without_a_date_the_next_session_after_today(calendar, today, expected) -> None:
    session = find_session(calendar, None, today)
    assert session.date == expected
    assert session.open < session.close and session.open.date() == expected


def test_latency_percentiles_of_no_samples_are_zero() -> None:
    assert _percentile([], 0.99) == 0.0
    assert _percentile([0.3, 0.1, 0.2], 0.5) == 0.2
    assert _percentile([0.3, 0.1, 0.2], 0.99) == 0.3


def _simulate(path: Path, calendar: XcalsExchangeCalendar, report_at: str) -> dict[str, Any]:
    overrides = {
        "db_path": str(path),
        "sim": {"symbols": 60, "seed": 3},
        "metrics": {"enabled": False},
        "schedule": {"daily_report": {"at": report_at}},
    }
    settings = load_settings(None, overrides, environ={}).settings
    return run_simulation(settings, find_session(calendar, DAY, DAY))


def test_a_late_daily_report_is_waited_for(tmp_path, calendar) -> None:
    report = _simulate(tmp_path / "late.db", calendar, "close+30m")
    stored = read_report(tmp_path / "late.db", "2025-01-06")
    assert stored is not None and report["date"] == stored["date"] == "2025-01-06"
    (job,) = list_jobs(tmp_path / "late.db", job_type="report")
    assert job.status == "done"  # the scheduled report job wrote it, 25 virtual minutes late
    assert report["lost_jobs"] == 0


def test_a_report_not_run_within_two_hours_is_built_by_the_simulation(tmp_path, calendar) -> None:
    report = _simulate(tmp_path / "never.db", calendar, "close+3h")
    stored = read_report(tmp_path / "never.db", "2025-01-06")
    assert stored is not None and stored["date"] == report["date"] == "2025-01-06"
    assert stored["orders"] == report["orders"]
    assert list_jobs(tmp_path / "never.db", job_type="report") == []  # never scheduled in time


def test_only_a_replay_feed_with_data_gaps_adds_them_to_the_report():
    from types import SimpleNamespace

    from finagent.app.simulate import replay_gaps_of

    gap = "ABC 2025-01-06: no minute bars 09:30-09:35"
    assert replay_gaps_of(SimpleNamespace(gaps=(gap,))) == {"replay_gaps": [gap]}
    assert replay_gaps_of(SimpleNamespace(gaps=())) == {}  # a replay without gaps
    assert replay_gaps_of(object()) == {}  # the simulator's feed has no gaps at all

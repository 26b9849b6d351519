"""`finagent schedule` in process through its cyclopts app: table, JSON, errors."""

from __future__ import annotations

import json
import os

import pytest

from finagent.cli.schedule import schedule_app


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray ./settings.yaml
    for name in list(os.environ):
        if name.startswith("FINAGENT_"):
            monkeypatch.delenv(name)


def _run(args, capsys):
    with pytest.raises(SystemExit) as info:
        schedule_app(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def _config(tmp_path, text):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return str(path)


BERLIN = "exchange: {display_timezone: Europe/Berlin}\n"


def test_thanksgiving_week_shows_the_holiday_closed_and_the_early_close(tmp_path, capsys):
    code, out, err = _run(
        ["--days", "7", "--from", "2026-11-23", "--config", _config(tmp_path, BERLIN)], capsys
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("XNYS schedule 2026-11-23 .. 2026-11-29")
    assert "display Europe/Berlin" in lines[0]
    assert "2026-11-26 Thu  CLOSED (Thanksgiving)" in lines
    friday = [line for line in lines if "2026-11-27" in line]
    assert friday and "09:30-13:00 EARLY CLOSE" in friday[0]
    flatten = [line.split() for line in lines if " flatten " in line]
    assert flatten[-1][-6:] == ["flatten", "flatten", "12:55", "EST", "18:55", "CET"]
    assert flatten[0][-6:] == ["flatten", "flatten", "15:55", "EST", "21:55", "CET"]
    assert sum(" premarket_scan " in line for line in lines) == 4  # no weekend, no holiday


def test_json_lists_firings_with_exchange_and_display_times(tmp_path, capsys):
    code, out, _ = _run(
        ["--days", "7", "--from", "2026-11-23", "--json", "--config", _config(tmp_path, BERLIN)],
        capsys,
    )
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 16
    assert {r["session_date"] for r in rows} == {
        "2026-11-23",
        "2026-11-24",
        "2026-11-25",
        "2026-11-27",
    }
    flatten = next(r for r in rows if r["entry"] == "flatten" and r["session_date"] == "2026-11-27")
    assert flatten == {
        "entry": "flatten",
        "job_type": "flatten",
        "session_date": "2026-11-27",
        "exchange_time": "2026-11-27T12:55:00-05:00",
        "display_time": "2026-11-27T18:55:00+01:00",
        "early_close": True,
        "key": "schedule:flatten:2026-11-27",
    }
    assert not next(r for r in rows if r["session_date"] == "2026-11-23")["early_close"]


def test_tz_flag_overrides_the_display_zone_and_shows_the_us_eu_dst_gap(tmp_path, capsys):
    code, out, _ = _run(
        ["--from", "2026-03-09", "--days", "1", "--tz", "Europe/Berlin", "--json"], capsys
    )
    assert code == 0
    scan = json.loads(out)[0]
    assert scan["exchange_time"] == "2026-03-09T09:00:00-04:00"
    assert scan["display_time"] == "2026-03-09T14:00:00+01:00"  # 5 h apart until 03-29


def test_display_on_another_date_shows_the_weekday(capsys):
    code, out, _ = _run(["--from", "2026-11-23", "--days", "1", "--tz", "Asia/Tokyo"], capsys)
    assert code == 0
    assert "Tue 06:05 JST" in out  # the 16:05 ET report is Tuesday morning in Tokyo


def test_at_override_preview(capsys):
    code, out, _ = _run(
        ["--from", "2026-11-23", "--days", "1", "--at", "premarket_scan=08:45", "--json"], capsys
    )
    assert code == 0
    scan = json.loads(out)[0]
    assert scan["entry"] == "premarket_scan"
    assert scan["exchange_time"] == "2026-11-23T08:45:00-05:00"


def test_a_cron_entry_on_a_weekend_shows_no_session(tmp_path, capsys):
    cfg = _config(
        tmp_path,
        "schedule:\n  weekly: {job_type: report, cron: '0 10 * * 6', sessions_only: false}\n",
    )
    code, out, _ = _run(["--from", "2026-11-28", "--days", "2", "--config", cfg], capsys)
    assert code == 0
    assert "2026-11-28 Sat  no session" in out
    assert "weekly" in out


def test_nothing_scheduled(tmp_path, capsys):
    cfg = _config(tmp_path, "schedule: {}\n")
    code, out, _ = _run(["--from", "2026-11-28", "--days", "2", "--config", cfg], capsys)
    assert code == 0
    assert out.splitlines()[-1] == "(nothing scheduled)"


def test_default_start_is_today(capsys):
    code, out, _ = _run(["--days", "1", "--json"], capsys)
    assert code == 0
    assert isinstance(json.loads(out), list)


@pytest.mark.parametrize(
    ("args", "yaml", "message"),
    [
        (["--days", "0"], "", "--days must be between 1 and 3660, got 0"),
        (["--from", "23.11.2026"], "", "--from: expected a date YYYY-MM-DD, got '23.11.2026'"),
        (["--tz", "Mars/Olympus"], "", "--tz: unknown time zone 'Mars/Olympus'"),
        ([], "exchange: {calendar: XMARS}\n", "exchange.calendar: unknown calendar 'XMARS'"),
        (
            [],
            "exchange: {timezone: Mars/Olympus}\n",
            "exchange.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            [],
            "exchange: {timezone: Europe/London}\n",
            "exchange.timezone: 'Europe/London' does not match calendar XNYS's zone",
        ),
        (
            [],
            "schedule:\n  x: {job_type: scan, cron: '0 25 * * *'}\n",
            "schedule.x: invalid cron '0 25 * * *'",
        ),
        (
            [],
            "schedule:\n  x: {job_type: scan, at: teatime}\n",
            "schedule.x: cannot parse at 'teatime'",
        ),
        ([], "schedule:\n  x: {job_type: scan}\n", "schedule.x: set one of 'cron' or 'at'"),
        (
            [],
            "schedule:\n  x: {job_type: scan, at: open, cron: '* * * * *'}\n",
            "schedule.x: set either",
        ),
        ([], "schedule:\n  x: {job_type: nap, at: open}\n", "schedule.x: unknown job_type 'nap'"),
        (
            [],
            "schedule:\n  x: {job_type: scan, at: open, tz: Nowhere}\n",
            "schedule.x.tz: unknown time zone",
        ),
        (["--at", "nope=09:00"], "", "--at 'nope=09:00': unknown schedule entry 'nope'"),
        ([], "exchange: {calendr: XNYS}\n", "unknown key 'exchange.calendr'"),
    ],
)
def test_bad_config_is_one_line_on_stderr_and_exit_2(tmp_path, capsys, args, yaml, message):
    code, out, err = _run([*args, "--config", _config(tmp_path, yaml)], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("finagent: error: ")
    assert message in err
    assert err.count("\n") == 1

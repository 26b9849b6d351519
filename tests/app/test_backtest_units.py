"""``app.backtest`` and ``app.data`` pieces without a daemon run: scan instant, gaps, progress."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import finagent.app.backtest as bt
from finagent.adapters.replay.store import DailyRow, open_store
from finagent.app.data import gapped, scan_instant
from finagent.domain.market import Session
from finagent.settings import load_settings
from finagent.settings.model import ScheduleEntry

OPEN = datetime(2025, 1, 7, 14, 30, tzinfo=UTC)
SESSION = Session(date(2025, 1, 7), OPEN, datetime(2025, 1, 7, 21, tzinfo=UTC))


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({}, datetime(2025, 1, 7, 14, 0, tzinfo=UTC)),
        ({"premarket_scan": {"at": "08:45"}}, datetime(2025, 1, 7, 13, 45, tzinfo=UTC)),
        (
            {"premarket_scan": {"at": "close-1h"}},
            datetime(2025, 1, 7, 20, 0, tzinfo=UTC),
        ),
        (
            {"premarket_scan": {"cron": "0 9 * * 1-5"}},
            datetime(2025, 1, 7, 14, 0, tzinfo=UTC),
        ),
    ],
)
def test_scan_instant(schedule: dict[str, Any], expected: datetime, tmp_path: Path) -> None:
    settings = load_settings(cli_overrides={"schedule": schedule} if schedule else {}).settings
    assert scan_instant(settings, SESSION) == expected


def test_gapped_is_half_the_threshold() -> None:
    assert gapped(Decimal("10.20"), Decimal("10"), 4.0)
    assert not gapped(Decimal("10.19"), Decimal("10"), 4.0)
    assert not gapped(Decimal("10"), Decimal("0"), 4.0)


def test_a_data_gap_skips_the_day_and_progress_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.db"
    store = open_store(path, create=True)
    px = Decimal(10)
    store.write(daily=[DailyRow(SESSION.date, "A", px, px, px, px, 0, px, px, 1.0)])
    store.close()
    settings = load_settings(cli_overrides={"replay": {"path": str(path)}}).settings
    monkeypatch.setattr(bt, "_replay", lambda *a: {"replay_gaps": ["replay data gap: A on ..."]})
    seen: list[tuple[int, int, str]] = []
    result = bt.run_backtest(
        settings, date(2025, 1, 7), date(2025, 1, 7), progress=lambda *a: seen.append(a)
    )
    assert result.skipped == [{"date": "2025-01-07", "reason": "replay data gap: A on ..."}]
    assert seen == [(0, 1, "2025-01-07"), (1, 1, "")]


def test_without_a_timed_scan_entry_the_scan_instant_is_half_an_hour_before_the_open() -> None:
    """Entries of other types, and a scan fired by cron (no session time), are passed over."""
    defaults = load_settings(environ={}).settings
    schedule = {
        "flatten": ScheduleEntry(job_type="flatten", at="close-5m"),
        "cron_scan": ScheduleEntry(job_type="scan", cron="0 9 * * 1-5"),
    }
    settings = defaults.model_copy(update={"schedule": schedule})
    late = Session(SESSION.date, OPEN + timedelta(hours=1), SESSION.close)  # not the default's
    assert scan_instant(settings, late) == datetime(2025, 1, 7, 15, 0, tzinfo=UTC)


def canned_replay(settings: Any, session: Session, crash_rate: float) -> dict[str, Any]:
    """A session's report without a daemon (module level: a worker process unpickles it)."""
    if session.date.day == 8:
        return {"replay_gaps": [f"replay data gap: A on {session.date}"]}
    price = Decimal(10 + session.date.day)
    order = {"filled_price": str(price), "qty": 10, "exit_price": str(price + 1),
             "side": "long", "symbol": "A"}  # fmt: skip
    return {"orders": [order], "fills": 2}


def test_workers_give_the_sequential_result_and_tell_progress_as_days_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three sessions with data (one with a gap) and a day without: the same result for
    ``jobs`` 1 and 2; in workers, progress counts the day without data as done at once."""
    path = tmp_path / "m.db"
    store = open_store(path, create=True)
    px = Decimal(10)
    days = [date(2025, 1, 6), date(2025, 1, 8), date(2025, 1, 10)]  # not 2025-01-07 (01-09: closed)
    store.write(daily=[DailyRow(d, "A", px, px, px, px, 0, px, px, 1.0) for d in days])
    store.close()
    settings = load_settings(cli_overrides={"replay": {"path": str(path)}}).settings
    monkeypatch.setattr(bt, "_replay", canned_replay)
    results, seen = [], []
    for jobs in (1, 2):
        told: list[tuple[int, int, str]] = []
        result = bt.run_backtest(
            settings, days[0], days[-1], jobs=jobs, progress=lambda *a, t=told: t.append(a)
        )
        results.append(result.as_json())
        seen.append(told)
    assert results[0] == results[1]
    assert [d["date"] for d in results[0]["days"]] == ["2025-01-06", "2025-01-10"]
    assert [k["date"] for k in results[0]["skipped"]] == ["2025-01-07", "2025-01-08"]
    assert seen[0] == [(1, 4, "2025-01-06"), (2, 4, "2025-01-08"), (3, 4, "2025-01-10"),
                       (4, 4, "")]  # fmt: skip
    assert seen[1] == [(1, 4, "2025-01-06"), (2, 4, "2025-01-06"), (3, 4, "2025-01-08"),
                       (4, 4, "2025-01-10"), (4, 4, "")]  # fmt: skip


def interrupting_replay(settings: Any, session: Session, crash_rate: float) -> dict[str, Any]:
    """Ctrl-C lands on the backtest's process during the second session (in a worker: on its
    parent, as a terminal's would reach the parent too); every session leaves a mark."""
    import os
    import signal

    marks = Path(os.environ["BT_MARKS"])
    (marks / session.date.isoformat()).touch()
    if session.date == date(2025, 1, 7):
        target = os.getpid() if os.getpid() == int(os.environ["BT_PARENT"]) else os.getppid()
        os.kill(target, signal.SIGINT)
    elif session.date > date(2025, 1, 7):
        import time

        time.sleep(0.3)  # a session's work takes time: the queued ones are still queued
    return canned_replay(settings, session, crash_rate)


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_ends_the_running_sessions_and_starts_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    import os
    import signal

    path = tmp_path / "m.db"
    store = open_store(path, create=True)
    px = Decimal(10)
    days = [date(2025, 1, d) for d in (6, 7, 8, 10, 13, 14, 15, 16, 17, 21, 22, 23)]
    store.write(daily=[DailyRow(d, "A", px, px, px, px, 0, px, px, 1.0) for d in days])
    store.close()
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("BT_MARKS", str(marks))
    monkeypatch.setenv("BT_PARENT", str(os.getpid()))
    monkeypatch.setattr(bt, "_replay", interrupting_replay)
    settings = load_settings(cli_overrides={"replay": {"path": str(path)}}).settings
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        bt.run_backtest(settings, days[0], days[-1], jobs=jobs)
    ran = sorted(p.name for p in marks.iterdir())
    if jobs == 1:  # the session running ends; the next never starts
        assert ran == ["2025-01-06", "2025-01-07"]
    else:  # those the pool handed out already end (2 running, 3 in its call queue); no other
        assert ran[:2] == ["2025-01-06", "2025-01-07"] and len(ran) <= 7
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


def test_off_the_main_thread_a_backtest_runs_without_a_ctrl_c_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signals are the main thread's: a backtest started from another thread (a library
    caller) runs without installing one, and gives the same result."""
    import threading

    path = tmp_path / "m.db"
    store = open_store(path, create=True)
    px = Decimal(10)
    store.write(daily=[DailyRow(date(2025, 1, 6), "A", px, px, px, px, 0, px, px, 1.0)])
    store.close()
    settings = load_settings(cli_overrides={"replay": {"path": str(path)}}).settings
    monkeypatch.setattr(bt, "_replay", canned_replay)
    results: list[dict[str, Any]] = []
    worker = threading.Thread(
        target=lambda: results.append(
            bt.run_backtest(settings, date(2025, 1, 6), date(2025, 1, 6)).as_json()
        )
    )
    worker.start()
    worker.join(timeout=60)
    assert [d["date"] for d in results[0]["days"]] == ["2025-01-06"]
    assert results[0] == bt.run_backtest(settings, date(2025, 1, 6), date(2025, 1, 6)).as_json()


def test_a_worker_leaves_ctrl_c_to_the_parent() -> None:
    """What a worker process runs first (here in this process, then put back)."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    try:
        bt._leave_ctrl_c_to_the_parent()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)

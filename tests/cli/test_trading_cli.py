"""``simulate``, ``scan``, ``report``, ``halt``: bad input and missing reports, in process.

Each error is one ``finagent: error:`` line on stderr and exit 2, before any work starts.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from finagent.adapters.sqlite.dbfile import hold_database
from finagent.adapters.sqlite.state import SqliteTradingStore, read_control
from finagent.app import control
from finagent.domain.jobs import QueuePolicy
from finagent.ports.trading import Applied, Control, PutApplied, PutReport
from tests.cli_helpers import clean_env
from tests.cli_helpers import run_cli as _run

__all__ = ["clean_env"]  # an autouse fixture: each test in tmp_path, no FINAGENT_*


def _one_line(err: str, needle: str) -> None:
    (line,) = err.splitlines()
    assert line.startswith("finagent: error: ") and needle in line, err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--date", "2025-02-30"], "--date '2025-02-30': expected YYYY-MM-DD"),
        (["--speed", "fast"], "--speed 'fast': expected max or a number"),
        (["--speed", "0"], "--speed must be > 0"),
        (["--speed", "nan"], "--speed must be > 0"),
        (["--crash-rate", "1"], "--crash-rate must be in [0, 1)"),
        (["--crash-rate", "-0.1"], "--crash-rate must be in [0, 1)"),
        (["--speed", "2.5", "--crash-rate", "1"], "--crash-rate"),  # a good speed gets past
    ],
)
def test_simulate_refuses_bad_flags_in_one_line(argv, needle, tmp_path, capsys) -> None:
    code, out, err = _run(["simulate", "--db", str(tmp_path / "sim.db"), *argv], capsys)
    assert code == 2 and out == ""
    _one_line(err, needle)
    assert not (tmp_path / "sim.db").exists()  # refused before anything ran


def test_scan_reads_a_naive_at_as_utc(capsys) -> None:
    code, out, _ = _run(["scan", "--at", "2025-01-06T14:35:00", "--json"], capsys)
    data = json.loads(out)
    assert code == 0
    assert data["at"] == "2025-01-06T14:35:00+00:00"
    assert data["candidates"] and {"symbol", "score", "components"} <= set(data["candidates"][0])
    code, out, _ = _run(["scan", "--at", "2025-01-06T09:35:00-05:00"], capsys)  # kept as given
    assert code == 0
    assert out.startswith(f"{len(data['candidates'])} candidate(s) as of 2025-01-06T09:35:00-05:00")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database the daemon has started on once, with no daily report yet."""
    path = tmp_path / "f.db"
    SqliteTradingStore.open(path).close()
    return path


def _put_report(path: Path, day: str, report: dict[str, object]) -> None:
    store = SqliteTradingStore.open(path)
    try:
        store.apply([PutReport(day, report)], 0.0, QueuePolicy())
    finally:
        store.close()


def test_report_before_any_report_is_stored(db: Path, capsys) -> None:
    code, out, err = _run(["report", "--db", str(db)], capsys)
    assert code == 2 and out == ""
    _one_line(err, f"{db}: no daily report yet")


def test_report_for_a_date_without_one_names_the_date(db: Path, capsys) -> None:
    _put_report(db, "2025-01-06", {"date": "2025-01-06", "pnl": "12.50"})
    code, out, err = _run(["report", "--db", str(db), "--date", "2025-01-07"], capsys)
    assert code == 2 and out == ""
    _one_line(err, f"{db}: no daily report for 2025-01-07")
    code, out, _ = _run(["report", "--db", str(db), "--json"], capsys)  # the latest one
    assert code == 0 and json.loads(out) == {"date": "2025-01-06", "pnl": "12.50"}


def test_report_with_a_bad_date(db: Path, capsys) -> None:
    code, _, err = _run(["report", "--db", str(db), "--date", "yesterday"], capsys)
    assert code == 2
    _one_line(err, "--date 'yesterday': expected YYYY-MM-DD")


@pytest.mark.parametrize("command", [["report"], ["halt"], ["resume"]])
def test_an_unusable_database_file_is_one_line(command, tmp_path, capsys) -> None:
    bad = tmp_path / "not.db"
    bad.write_bytes(b"this is not a SQLite database, it is a text file" * 100)
    code, out, err = _run([*command, "--db", str(bad)], capsys)
    assert code == 2 and out == ""
    _one_line(err, str(bad))
    assert "Traceback" not in err


def test_halt_with_flatten_without_a_daemon_is_stored_and_exit_3(db: Path, capsys) -> None:
    code, out, _ = _run(["halt", "--flatten", "--db", str(db)], capsys)
    assert code == 3
    assert (
        out
        == f"halted, flatten request 1 in {db}; no daemon is running (the next start applies it)\n"
    )
    assert read_control(db) == Control("halted", 1, read_control(db).updated_at)


def test_a_daemon_that_does_not_answer_is_exit_3(db: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(control, "ACK_WAIT_S", 0.05)
    with hold_database(db):  # a lock holder that never answers the control row
        code, out, _ = _run(["halt", "--db", str(db)], capsys)
    assert code == 3
    assert out == (
        f"halted in {db}; daemon pid {os.getpid()} did not acknowledge it within 0.05 s"
        " (check its log)\n"
    )


def test_an_answer_held_by_a_fault_says_what_the_daemon_trades(db: Path, capsys) -> None:
    """A stand-in daemon: holds the lock and answers the request as a held TradingWatch does."""
    before = read_control(db).updated_at
    done = threading.Event()

    def answer() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            asked = read_control(db)
            if asked.updated_at != before:
                held = Applied("reducing", 0, asked.updated_at, 4242, 0.0, "Redis lost its data")
                store = SqliteTradingStore.open(db)
                try:
                    store.apply([PutApplied(held)], 0.0, QueuePolicy())
                finally:
                    store.close()
                done.set()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=answer)
    with hold_database(db):
        thread.start()
        code, out, _ = _run(["resume", "--db", str(db)], capsys)
    thread.join()
    assert done.is_set() and code == 0
    assert out == (
        "active; daemon pid 4242 applied it at 00:00:00 UTC but trades reducing"
        " (Redis lost its data)\n"
    )

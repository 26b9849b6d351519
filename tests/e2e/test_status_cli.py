"""``finagent status`` and the kill switch's acknowledgement, through the real CLI.

A real ``finagent up --speed N`` daemon on a weekend sim timeline; every command is a real
``python -m finagent`` subprocess reading the same files.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from finagent.adapters.sqlite.state import read_control
from tests.e2e.daemon import start, wait_for_log
from tests.e2e.test_cli_errors import EXIT_USAGE, assert_one_line, run
from tests.e2e.test_db_file import stop

pytestmark = pytest.mark.slow

EXIT_NOT_APPLIED = 3
NY = ZoneInfo("America/New_York")
SATURDAY = datetime(2025, 1, 4, 12, 0, tzinfo=NY)
WEEKEND = {"FINAGENT_SIM__START": SATURDAY.isoformat(), "FINAGENT_SIM__SPEED": "60",
           "FINAGENT_SIM__SYMBOLS": "20"}  # fmt: skip


def status_json(tmp_path: Path) -> dict[str, Any]:
    done = run(["status", "--json"], tmp_path, **WEEKEND)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def assert_documented_keys(found: dict[str, Any], *, running: bool) -> None:
    """Every key docs/operating.md documents, with its type."""
    assert found["daemon"]["running"] is running
    assert isinstance(found["daemon"]["pid"], int) if running else found["daemon"]["pid"] is None
    assert found["trading_state"] in ("active", "reducing", "halted")
    session = found["session"]
    assert isinstance(session["open"], bool)
    for key in ("next_open", "next_close"):
        assert datetime.fromisoformat(session[key]).tzinfo is not None
    assert isinstance(found["next_firings"], list) and found["next_firings"]
    for firing in found["next_firings"]:
        assert set(firing) == {"entry", "job_type", "at"}
    assert isinstance(found["positions"], list) and isinstance(found["orders"], list)
    assert isinstance(found["realized_pnl"], str)  # a decimal string (paper broker)
    for key in ("pending", "running", "dead"):
        assert isinstance(found["queue"][key], int)


@pytest.mark.parametrize("command", [["halt"], ["halt", "--flatten"], ["resume"]])
def test_the_kill_switch_never_creates_a_database(tmp_path: Path, command: list[str]) -> None:
    done = run(command, tmp_path)
    assert_one_line(done, EXIT_USAGE, f"{tmp_path / 'finagent.db'}: no such database")
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no database, no lock file, no WAL


def test_status_without_a_database_is_one_line(tmp_path: Path) -> None:
    assert_one_line(run(["status"], tmp_path), EXIT_USAGE, "no such database file")
    assert list(tmp_path.iterdir()) == []


def test_status_and_the_kill_switch_with_and_without_a_daemon(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    proc = start(["up"], tmp_path, **WEEKEND)
    try:
        wait_for_log(proc, "supervision tree 'root' running")
        found = status_json(tmp_path)
        assert_documented_keys(found, running=True)
        assert found["daemon"]["pid"] == proc.pid
        assert found["daemon"]["feed"] == "sim" and found["daemon"]["queue_backend"] == "sqlite"
        # Saturday on the sim timeline: closed, and the next open is Monday 09:30 in New York.
        assert found["session"]["open"] is False
        assert datetime.fromisoformat(found["session"]["next_open"]) == datetime(
            2025, 1, 6, 9, 30, tzinfo=NY
        )
        text = run(["status"], tmp_path, **WEEKEND)
        assert text.returncode == 0, text.stderr
        assert f"running, pid {proc.pid}" in text.stdout
        assert "session   closed; no session today" in text.stdout
        assert "next open Mon 2025-01-06 09:30 EST" in text.stdout

        halted = run(["halt", "--flatten"], tmp_path)
        assert halted.returncode == 0, halted.stderr
        ack = rf"^halted, flatten request 1; daemon pid {proc.pid} applied it at \d\d:\d\d:\d\d"
        assert re.match(ack, halted.stdout), halted.stdout
        found = status_json(tmp_path)
        assert found["trading_state"] == "halted"
        assert found["applied"]["pid"] == proc.pid and found["applied"]["flatten_seq"] == 1

        resumed = run(["resume"], tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.startswith(f"active; daemon pid {proc.pid} applied it at ")
    finally:
        code, _ = stop(proc)
    assert code == 0

    found = status_json(tmp_path)
    assert_documented_keys(found, running=False)
    assert "daemon    not running" in run(["status"], tmp_path, **WEEKEND).stdout
    halted = run(["halt"], tmp_path)
    assert halted.returncode == EXIT_NOT_APPLIED, halted.stderr
    assert halted.stdout == f"halted in {db}; no daemon is running (the next start applies it)\n"
    assert read_control(db).state == "halted"  # stored: the next start applies it
    found = status_json(tmp_path)
    assert found["trading_state"] == "halted" and "finagent resume" in found["trading_reason"]


def test_an_old_lock_file_without_a_note_still_reads(tmp_path: Path) -> None:
    """A daemon of an older finagent wrote only its pid: status shows the pid, the rest unknown."""
    proc = start(["up"], tmp_path, **WEEKEND)
    try:
        wait_for_log(proc, "supervision tree 'root' running")
        lock = tmp_path / "finagent.db.lock"
        lock.write_text(f"{proc.pid}\n")
        found = status_json(tmp_path)
        assert found["daemon"] == {
            "running": True, "pid": proc.pid, "since": None, "version": None, "feed": None,
            "broker": None, "queue_backend": None,
        }  # fmt: skip
    finally:
        code, _ = stop(proc)
    assert code == 0

"""`finagent up` as a real subprocess: starts, logs, stops on signals, refuses bad settings."""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.daemon import start, wait_for_log

pytestmark = pytest.mark.slow


def test_up_runs_and_exits_0_within_2s_of_sigterm(tmp_path):
    proc = start(["up"], tmp_path)
    try:
        wait_for_log(proc, "supervision tree 'root' running")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    assert code == 0
    assert elapsed < 2.0
    out, err = proc.communicate()
    assert "Traceback" not in out + err
    assert "finagent stopped" in out


def test_sigint_also_stops_cleanly(tmp_path):
    proc = start(["up"], tmp_path)
    try:
        wait_for_log(proc, "supervision tree 'root' running")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
    _, err = proc.communicate()
    assert "Traceback" not in err


def test_bad_settings_exit_2_with_one_line(tmp_path):
    (tmp_path / "settings.yaml").write_text("sim:\n  symbols: lots\n")
    proc = start(["up"], tmp_path)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 2
    assert err.startswith("finagent: error: settings.yaml: key 'sim.symbols'")
    assert err.count("\n") == 1
    assert out == ""


def test_bad_env_value_names_the_variable(tmp_path):
    proc = start(["up"], tmp_path, FINAGENT_LOG__LEVEL="LOUD")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.startswith("finagent: error: env FINAGENT_LOG__LEVEL: key 'log.level'")


def test_unknown_flag_is_a_usage_error(tmp_path):
    proc = start(["up", "--no-such-flag"], tmp_path)
    proc.communicate(timeout=30)
    assert proc.returncode == 2


def test_second_signal_forces_the_exit(tmp_path):
    proc = start(["up"], tmp_path)
    try:
        wait_for_log(proc, "supervision tree 'root' running", timeout=120)
        # Two different signals (the kernel merges a repeated pending one): both are queued
        # before the daemon's signal loop runs again, so the second lands mid-shutdown.
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
    finally:
        proc.kill()
    out, err = proc.communicate()
    assert code == 130
    assert "forcing exit" in out
    assert "Traceback" not in out + err


def _up_fails_with(tmp_path, db, expected):
    proc = start(["up", "--db", str(db)], tmp_path)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 2
    assert err == f"finagent: error: {db}: {expected}\n"


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    db = tmp_path / "junk.db"
    db.write_bytes(b"not a database, just text\n")
    _up_fails_with(tmp_path, db, "not a SQLite database")
    assert db.read_bytes() == b"not a database, just text\n"


def test_a_schema_newer_than_the_code_is_refused_and_left_untouched(tmp_path):
    import sqlite3

    db = tmp_path / "future.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 999")
    before = db.read_bytes()
    proc = start(["up", "--db", str(db)], tmp_path)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 2
    assert err.startswith(f"finagent: error: {db}: ")
    assert "999" in err
    assert err.count("\n") == 1
    assert db.read_bytes() == before


def test_a_db_path_that_cannot_be_created_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    db = blocker / "sub" / "finagent.db"
    proc = start(["up", "--db", str(db)], tmp_path)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 2
    assert err.startswith(f"finagent: error: {db}: cannot create database")
    assert err.count("\n") == 1

"""The schema's refusals on real bad files: one line naming the file, nothing written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from finagent.adapters.sqlite.schema import StoreError, connect_reader, connect_writer


def test_a_file_that_cannot_be_read_is_named_with_the_os_reason():
    # /proc/self/mem exists and is a regular path, but reading it at offset 0 is an I/O error.
    with pytest.raises(StoreError, match=r"^/proc/self/mem: cannot read database file: "):
        connect_reader(Path("/proc/self/mem"))


def test_a_sqlite_header_over_garbage_is_not_a_usable_database(tmp_path):
    bad = tmp_path / "bad.db"
    body = b"SQLite format 3\x00" + b"\xff" * 200
    bad.write_bytes(body)
    with pytest.raises(StoreError, match=r"bad\.db: not a usable SQLite database \("):
        connect_reader(bad)
    with pytest.raises(StoreError, match=r"bad\.db: not a usable SQLite database \("):
        connect_writer(bad)
    assert bad.read_bytes() == body  # refused before anything was written


def test_a_place_sqlite_cannot_create_a_file_in_is_refused_for_writing():
    with pytest.raises(StoreError, match=r"cannot open database for writing \("):
        connect_writer(Path("/proc/finagent-test.db"))


def test_a_migration_that_fails_rolls_back_and_leaves_the_file_as_it_was(tmp_path):
    # A file at schema version 0 that already has a "jobs" table: migration 1 cannot create it.
    path = tmp_path / "clash.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE jobs (note TEXT)")
    conn.execute("INSERT INTO jobs VALUES ('mine')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"clash\.db: cannot write database \(.*already exists"):
        connect_writer(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert conn.execute("SELECT note FROM jobs").fetchall() == [("mine",)]
    conn.close()

"""The database file: its lock, its identity and its integrity check, on real files."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from finagent.adapters.sqlite.dbfile import (
    DatabaseInUseError,
    FileIdentity,
    check_integrity,
    hold_database,
    lock_path,
)
from finagent.adapters.sqlite.schema import StoreError, connect_writer
from finagent.adapters.sqlite.state import SqliteTradingStore, read_control
from finagent.domain.jobs import QueuePolicy
from finagent.ports.trading import ReadControl


def take(db: Path, *, exclusive: bool = True) -> None:
    """Take the lock and give it back at once."""
    with hold_database(db, exclusive=exclusive):
        pass


def test_a_second_exclusive_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    with hold_database(db):
        assert lock_path(db).read_text() == f"{os.getpid()}\n"
        refused = rf"^database {db} is in use by pid {os.getpid()}$"
        with pytest.raises(DatabaseInUseError, match=refused):
            take(db)
    take(db)  # released with the first holder's descriptor


def test_shared_holders_coexist_and_keep_an_exclusive_one_out(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    shared = hold_database(db, exclusive=False)
    with shared, hold_database(db, exclusive=False), pytest.raises(DatabaseInUseError):
        take(db)
    with hold_database(db), pytest.raises(DatabaseInUseError):
        take(db, exclusive=False)


def test_a_lock_file_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="missing is not a directory"):
        take(tmp_path / "missing" / "finagent.db")
    (tmp_path / "finagent.db.lock").mkdir()  # something that cannot be opened as a file
    with pytest.raises(StoreError, match="cannot open its lock file"):
        take(tmp_path / "finagent.db")


def test_identity_tells_deleted_from_replaced(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    db.write_bytes(b"x")
    identity = FileIdentity(db)
    assert identity.path == db
    assert identity.changed() is None
    db.unlink()
    assert identity.changed() == f"database {db} was deleted under the running daemon"
    db.write_bytes(b"y")  # a new file on the same path: a new inode while the old one is open
    with db.open("rb"):
        other = tmp_path / "other.db"
        other.write_bytes(b"z")
        other.replace(db)
        assert "was replaced by another file" in str(identity.changed())


def test_the_store_writes_nothing_once_its_file_is_gone(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    store = SqliteTradingStore.open(db)
    try:
        store.identity = FileIdentity(db)
        assert store.apply([ReadControl()], 0.0, QueuePolicy())[0] is not None
        db.unlink()
        with pytest.raises(StoreError, match="was deleted under the running daemon; not writing"):
            store.apply([ReadControl()], 0.0, QueuePolicy())
    finally:
        store.close()


def _filled(path: Path, rows: int) -> None:
    conn = connect_writer(path)
    try:
        conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany(
            "INSERT INTO filler (body) VALUES (?)", ((f"{i:08d}" * 50,) for i in range(rows))
        )
        conn.execute("CREATE INDEX filler_body ON filler (body)")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def test_a_missing_file_passes_and_a_sound_one_passes_complete(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    assert check_integrity(db).complete
    _filled(db, 100)
    report = check_integrity(db)
    assert report.complete
    assert report.seconds >= 0.0


def test_a_check_over_its_budget_stops_unfinished(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    _filled(db, 5_000)
    assert not check_integrity(db, budget_s=0.0).complete


def corrupt_pages(path: Path) -> bytes:
    """Overwrite every page after the first (the header stays intact); returns the bytes."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for at in range(page, len(data), page):
        data[at : at + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))
    return bytes(data)


def test_corrupt_pages_behind_an_intact_header_are_one_line_and_the_file_untouched(
    tmp_path: Path,
) -> None:
    db = tmp_path / "finagent.db"
    _filled(db, 500)
    before = corrupt_pages(db)
    with pytest.raises(StoreError, match=r"database is corrupt \(.*\); restore it from a backup$"):
        check_integrity(db)
    assert db.read_bytes() == before


def test_a_check_that_cannot_even_read_the_schema_is_corrupt(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    _filled(db, 10)
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page's body, after the header
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="database is corrupt"):
        check_integrity(db)
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(db).execute("SELECT * FROM sqlite_master").fetchall()


def test_reading_a_corrupt_database_is_one_line_too(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    SqliteTradingStore.open(db).close()
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = b"\xa5" * (len(data) - page)  # every table's root page
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="database is corrupt"):
        read_control(db)

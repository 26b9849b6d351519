"""The SQLite job store below the port: id allocation, schema migration, WAL checkpoints."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import cast

import pytest

from finagent.adapters.sqlite.checkpoint import Checkpointer
from finagent.adapters.sqlite.schema import _MIGRATIONS, PAGE_SIZE, SCHEMA_VERSION
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import Job, NewJob, QueuePolicy
from finagent.ports.queue import Claim, Complete, Enqueue, Prune

POLICY = QueuePolicy()
NOW = 1_700_000_000.0


def _enqueue(store: SqliteJobStore, key: str, now: float = NOW) -> Job:
    ((job,),) = store.apply([Enqueue([NewJob("a", key)])], now, POLICY)  # type: ignore[misc]
    return job  # type: ignore[no-any-return]  # Enqueue's result is list[Job]


def _claim(store: SqliteJobStore) -> list[Job]:
    return cast("list[Job]", store.apply([Claim(["a"], 100, "w")], NOW, POLICY)[0])


def _finish_all(store: SqliteJobStore) -> None:
    store.apply([Complete(j.id, "w") for j in _claim(store)], NOW, POLICY)


def test_ids_are_never_reused_after_the_newest_jobs_are_deleted(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    store = SqliteJobStore.open(path)
    assert [_enqueue(store, k).id for k in ("a", "b", "c")] == [1, 2, 3]
    _finish_all(store)
    assert store.apply([Prune(0.0)], NOW + 1, POLICY) == [3]  # every job gone, the newest too
    assert _enqueue(store, "d").id == 4  # not 1: a stale holder of id 1..3 names nothing new
    store.close()
    operator = sqlite3.connect(path)  # someone deletes rows behind the store's back
    operator.execute("DELETE FROM jobs")
    operator.commit()
    operator.close()
    store = SqliteJobStore.open(path)  # and the daemon restarts
    assert _enqueue(store, "e").id == 5
    assert _enqueue(store, "e").id == 5  # an existing key takes no new id
    assert _enqueue(store, "f").id == 6
    store.close()


def test_a_version_1_database_keeps_its_jobs_and_never_reuses_its_ids(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(_MIGRATIONS[0] + "PRAGMA user_version = 1;")
    insert = (
        "INSERT INTO jobs (type, key, payload, status, max_attempts, run_at, created_at,"
        " updated_at) VALUES ('a', ?, '{\"n\": 1}', 'pending', 3, 1, 1, 1)"
    )
    for key in ("x", "y", "z"):
        old.execute(insert, (key,))
    old.execute("DELETE FROM jobs WHERE key = 'z'")  # AUTOINCREMENT remembers id 3
    old.close()
    store = SqliteJobStore.open(path)
    assert _enqueue(store, "new").id == 4
    claimed = [(j.id, j.key, dict(j.payload)) for j in _claim(store)]
    assert claimed == [(1, "x", {"n": 1}), (2, "y", {"n": 1}), (4, "new", {})]
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def _page_size(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def test_a_new_database_gets_small_pages_and_an_existing_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    new = tmp_path / "new.db"
    SqliteJobStore.open(new).close()
    assert PAGE_SIZE != 4096  # SQLite's default: the test below would prove nothing otherwise
    assert _page_size(new) == PAGE_SIZE
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(_MIGRATIONS[0] + "PRAGMA user_version = 1;")
    conn.close()
    store = SqliteJobStore.open(old)
    assert [_enqueue(store, k).id for k in ("a", "b")] == [1, 2]
    store.close()
    assert _page_size(old) == 4096
    store = SqliteJobStore.open(old)  # reopened: still 4 KiB pages, jobs intact
    assert [j.key for j in _claim(store)] == ["a", "b"]
    store.close()
    conn = sqlite3.connect(old)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_the_checkpointer_checkpoints_the_wal_off_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    store = SqliteJobStore.open(path, checkpoint_s=0.0)
    writer = store._conn
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)  # not in COMMIT
    checkpointer = store._checkpointer
    assert checkpointer is not None
    _enqueue(store, "a")
    assert checkpointer.ran.wait(timeout=30)  # the background thread ran one
    assert checkpointer.checkpoints >= 1
    store.close()


def test_without_a_checkpointer_sqlite_checkpoints_in_commit(tmp_path: Path) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db", checkpoint_s=None)
    assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
    assert _enqueue(store, "a").id == 1
    store.close()


def test_a_failed_checkpoint_is_logged_and_the_thread_stops_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db", checkpoint_s=None)
    checkpointer = Checkpointer(tmp_path / "q.db", interval_s=3600.0)
    checkpointer.committed()  # the thread waits out its interval; close cuts it short
    checkpointer.checkpoint()
    assert checkpointer.checkpoints == 1
    checkpointer._conn.close()  # stands in for any SQLite error (I/O, file gone)
    with caplog.at_level(logging.WARNING, logger="finagent.adapters.sqlite.checkpoint"):
        checkpointer.checkpoint()
    assert "WAL checkpoint failed" in caplog.text
    assert checkpointer.checkpoints == 1
    checkpointer.close()
    store.close()

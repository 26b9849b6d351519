"""The SQLite stores when an op fails half-way, the disk is full, or a stored row is corrupt:
each op is all or nothing, the batch's other ops commit, and the connection is left usable."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

import pytest

from finagent.adapters.sqlite.state import SimAnchor, SqliteTradingStore, set_control
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.errors import StorageUnavailableError
from finagent.domain.jobs import Job, JobStatus, NewJob, QueuePolicy
from finagent.ports.queue import Claim, Complete, Enqueue, GetJob, NextDue
from finagent.ports.trading import GetReport, PutReport

POLICY = QueuePolicy()
NOW = 1_700_000_000.0
UNSERIALISABLE = {"when": object()}  # not JSON: prepare() raises TypeError


def _running(store: SqliteJobStore, *keys: str) -> list[Job]:
    store.apply([Enqueue([NewJob("a", k) for k in keys])], NOW, POLICY)
    return cast("list[Job]", store.apply([Claim(["a"], 100, "w")], NOW, POLICY)[0])


def _job(store: SqliteJobStore, job_id: int) -> Job:
    return cast("Job", store.apply([GetJob(job_id)], NOW, POLICY)[0])


def test_a_complete_whose_output_fails_is_undone_and_the_batch_commits(tmp_path: Path) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db")
    try:
        (job,) = _running(store, "parent")
        bad = Complete(
            job.id, "w", [NewJob("b", "child:ok"), NewJob("b", "child:x", UNSERIALISABLE)]
        )
        # alone in its run: marked done, one output written, then the second fails
        result, other = store.apply([bad, Enqueue([NewJob("c", "other")])], NOW, POLICY)
        assert isinstance(result, TypeError)
        assert [j.key for j in cast("list[Job]", other)] == ["other"]  # the rest committed
        after = _job(store, job.id)
        assert after.status is JobStatus.RUNNING and after.lease_owner == "w"  # not half-done
        assert store.apply([Claim(["b"], 10, "w")], NOW, POLICY) == [[]]  # no orphan output
        (outputs,) = store.apply([Complete(job.id, "w", [NewJob("b", "child:ok")])], NOW, POLICY)
        assert [j.key for j in cast("list[Job]", outputs)] == ["child:ok"]  # the retry works
    finally:
        store.close()


def test_a_run_of_completes_replays_one_by_one_when_an_output_fails(tmp_path: Path) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db")
    try:
        first, second = _running(store, "p1", "p2")
        ok = Complete(first.id, "w", [NewJob("b", "from:p1")])
        bad = Complete(second.id, "w", [NewJob("b", "from:p2", UNSERIALISABLE)])
        done, failed = store.apply([ok, bad], NOW, POLICY)  # one run: a multi-row statement
        assert [j.key for j in cast("list[Job]", done)] == ["from:p1"]
        assert isinstance(failed, TypeError)
        assert _job(store, first.id).status is JobStatus.DONE
        assert _job(store, second.id).status is JobStatus.RUNNING  # not done without outputs
        claimed = cast("list[Job]", store.apply([Claim(["b"], 10, "w")], NOW, POLICY)[0])
        assert [j.key for j in claimed] == ["from:p1"]
    finally:
        store.close()


def test_next_due_of_no_types_is_none(tmp_path: Path) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db")
    try:
        store.apply([Enqueue([NewJob("a", "k")])], NOW, POLICY)
        assert store.apply([NextDue([]), NextDue(["a"])], NOW, POLICY) == [None, NOW]
    finally:
        store.close()


def test_a_full_disk_fails_a_trading_write_as_a_storage_fault(tmp_path: Path) -> None:
    store = SqliteTradingStore.open(tmp_path / "t.db")
    conn: sqlite3.Connection = store._conn  # the writer's own connection carries the limit
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        big = PutReport("2025-01-06", {"blob": "x" * 200_000})
        # SQLite rolls the transaction back itself on SQLITE_FULL: the fault, not a failed
        # ROLLBACK, is what the caller sees
        with pytest.raises(StorageUnavailableError, match="disk full"):
            store.apply([big], NOW, POLICY)
        assert not conn.in_transaction
        assert store.apply([GetReport("2025-01-06")], NOW, POLICY) == [None]  # nothing written
        conn.execute("PRAGMA max_page_count = 1073741823")  # room again: the same write commits
        store.apply([big], NOW, POLICY)
        (report,) = store.apply([GetReport("2025-01-06")], NOW, POLICY)
        assert report == {"blob": "x" * 200_000}
    finally:
        store.close()


def test_a_corrupt_anchor_row_raises_and_releases_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = SqliteTradingStore.open(path)
    try:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("INSERT INTO sim_anchor VALUES (1, 'not a time', 0, 1)")  # hand-edited
        with pytest.raises(ValueError, match="not a time"):
            store.anchor(SimAnchor(1.0, 2.0, 60.0))
        assert not store._conn.in_transaction  # rolled back: the file is not held locked
        other.execute("BEGIN IMMEDIATE")  # another writer can take the lock at once
        other.execute("UPDATE sim_anchor SET wall_start = 5")
        other.execute("COMMIT")
        other.close()
        assert store.anchor(SimAnchor(1.0, 2.0, 60.0)) == SimAnchor(5.0, 0.0, 1.0)
    finally:
        store.close()


def test_the_kill_switch_refuses_an_unknown_state(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with pytest.raises(ValueError, match="unknown trading state 'paused'"):
        set_control(path, "paused", flatten=False, now=NOW)
    assert not path.exists()  # refused before the file is opened
    assert set_control(path, "halted", flatten=True, now=NOW).state == "halted"

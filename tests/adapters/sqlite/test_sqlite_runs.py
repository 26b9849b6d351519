"""Runs of like requests in one batch give exactly what one request at a time gives."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import (
    Job,
    JobNotFoundError,
    JobStatus,
    LeaseLostError,
    NewJob,
    QueuePolicy,
)
from finagent.ports.queue import Claim, Complete, Enqueue, StoreOp

POLICY = QueuePolicy()
NOW = 1_700_000_000.0


def _table(store: SqliteJobStore) -> list[tuple[Any, ...]]:
    conn = store._conn
    return [tuple(r) for r in conn.execute("SELECT * FROM jobs ORDER BY id")]


def _shape(results: list[object]) -> list[object]:
    """Results with errors compared by type and message (exception objects never compare equal)."""
    return [(type(r).__name__, str(r)) if isinstance(r, Exception) else r for r in results]


def _pair(tmp_path: Path, name: str) -> tuple[SqliteJobStore, SqliteJobStore]:
    return (
        SqliteJobStore.open(tmp_path / f"{name}-batch.db"),
        SqliteJobStore.open(tmp_path / f"{name}-single.db"),
    )


def _one_by_one(store: SqliteJobStore, ops: list[StoreOp]) -> list[object]:
    return [store.apply([op], NOW, POLICY)[0] for op in ops]


keys = st.sampled_from([f"k{i}" for i in range(12)])
new_jobs = st.lists(
    st.builds(NewJob, st.just("t"), keys, st.fixed_dictionaries({"n": st.integers(0, 9)})),
    min_size=0,
    max_size=4,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.lists(keys, max_size=6),
    batch=st.lists(st.tuples(new_jobs, st.sampled_from([None, 1, 2])), min_size=2, max_size=8),
    completes=st.lists(st.tuples(st.integers(1, 8), st.sampled_from(["w", "x"]), new_jobs)),
)
def test_a_batch_of_enqueues_and_completes_equals_one_request_at_a_time(
    tmp_path_factory: Any,
    seed: list[str],
    batch: list[tuple[list[NewJob], int | None]],
    completes: list[tuple[int, str, list[NewJob]]],
) -> None:
    tmp = cast("Path", tmp_path_factory.mktemp("runs"))
    together, alone = _pair(tmp, "p")
    for store in (together, alone):
        store.apply([Enqueue([NewJob("t", k) for k in seed])], NOW, POLICY)
        store.apply([Claim(["t"], 3, "w")], NOW, POLICY)  # some jobs running under "w"
    enqueues: list[StoreOp] = [Enqueue(jobs, parent) for jobs, parent in batch]
    finishing: list[StoreOp] = [Complete(i, owner, outs) for i, owner, outs in completes]
    for ops in (enqueues, finishing):
        assert _shape(together.apply(ops, NOW + 1, POLICY)) == _shape(
            [alone.apply([op], NOW + 1, POLICY)[0] for op in ops]
        )
        assert _table(together) == _table(alone)
    together.close()
    alone.close()


def test_duplicate_and_existing_keys_in_one_run(tmp_path: Path) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db")
    (first,) = cast("list[Job]", store.apply([Enqueue([NewJob("t", "old")])], NOW, POLICY)[0])
    results = store.apply(
        [
            Enqueue([NewJob("t", "a", {"v": 1}), NewJob("t", "old")]),
            Enqueue([NewJob("t", "a", {"v": 2})]),  # same key as above: the first one wins
            Enqueue([NewJob("t", "b")], parent_id=first.id),
        ],
        NOW,
        POLICY,
    )
    a, old = cast("list[Job]", results[0])
    assert (a.id, a.payload, old) == (2, {"v": 1}, first)
    assert cast("list[Job]", results[1]) == [a]
    (b,) = cast("list[Job]", results[2])
    assert (b.id, b.parent_id, b.status) == (3, first.id, JobStatus.PENDING)
    store.close()


def test_an_unserialisable_payload_fails_its_own_request_only(tmp_path: Path) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db")
    results = store.apply(
        [
            Enqueue([NewJob("t", "a")]),
            Enqueue([NewJob("t", "bad", {"x": object()})]),  # type: ignore[dict-item]  # on purpose
            Enqueue([NewJob("t", "c")]),
        ],
        NOW,
        POLICY,
    )
    assert isinstance(results[1], TypeError)
    assert [j.key for r in (results[0], results[2]) for j in cast("list[Job]", r)] == ["a", "c"]
    assert [row[2] for row in _table(store)] == ["a", "c"]
    store.close()


def test_a_constraint_error_in_a_run_is_replayed_one_request_at_a_time(tmp_path: Path) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db")
    results = store.apply(
        [
            Enqueue([NewJob("t", "a")]),
            Enqueue([NewJob("t", "nan", {"x": math.nan})]),  # NaN is not JSON: the CHECK refuses
            Enqueue([NewJob("t", "zero", max_attempts=0)]),  # max_attempts >= 1
            Enqueue([NewJob("t", "c")]),
        ],
        NOW,
        POLICY,
    )
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert isinstance(results[2], sqlite3.IntegrityError)
    assert [row[2] for row in _table(store)] == ["a", "c"]
    store.close()


def test_completes_in_one_run_report_each_lease_error(tmp_path: Path) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db")
    store.apply([Enqueue([NewJob("t", k) for k in "abc"])], NOW, POLICY)
    a, b, c = cast("list[Job]", store.apply([Claim(["t"], 3, "w")], NOW, POLICY)[0])
    results = store.apply(
        [
            Complete(a.id, "w", [NewJob("t", "out-a")]),
            Complete(a.id, "w"),  # twice in one batch: the second finds it done
            Complete(b.id, "someone-else"),
            Complete(99, "w"),
            Complete(c.id, "w"),
        ],
        NOW,
        POLICY,
    )
    assert [j.key for j in cast("list[Job]", results[0])] == ["out-a"]
    assert isinstance(results[1], LeaseLostError) and "is done" in str(results[1])
    assert isinstance(results[2], LeaseLostError)
    assert isinstance(results[3], JobNotFoundError)
    assert results[4] == []
    statuses = {row[2]: row[4] for row in _table(store)}
    assert statuses == {"a": "done", "b": "running", "c": "done", "out-a": "pending"}
    store.close()


def test_a_complete_whose_output_fails_is_undone_alone(tmp_path: Path) -> None:
    store = SqliteJobStore.open(tmp_path / "q.db")
    store.apply([Enqueue([NewJob("t", "a"), NewJob("t", "b")])], NOW, POLICY)
    a, b = cast("list[Job]", store.apply([Claim(["t"], 2, "w")], NOW, POLICY)[0])
    results = store.apply(
        [Complete(a.id, "w", [NewJob("t", "bad", {"x": math.inf})]), Complete(b.id, "w")],
        NOW,
        POLICY,
    )
    assert isinstance(results[0], sqlite3.IntegrityError)
    assert results[1] == []
    statuses = {row[2]: row[4] for row in _table(store)}
    assert statuses == {"a": "running", "b": "done"}  # a keeps its lease: nothing half-done
    store.close()


def test_more_rows_than_one_statement_takes(tmp_path: Path) -> None:
    together, alone = _pair(tmp_path, "big")
    ops: list[StoreOp] = [
        Enqueue([NewJob("t", f"k{i}"), NewJob("t", f"k{i + 1}")]) for i in range(150)
    ]
    assert together.apply(ops, NOW, POLICY) == _one_by_one(alone, ops)
    assert len(_table(together)) == 151
    claimed = cast("list[Job]", together.apply([Claim(["t"], 500, "w")], NOW, POLICY)[0])
    done = together.apply([Complete(j.id, "w") for j in claimed], NOW, POLICY)
    assert done == [[]] * 151
    together.close()
    alone.close()


def test_a_run_of_completes_reports_each_lease_it_does_not_hold_like_one_at_a_time(tmp_path):
    """Deterministic companion of the property test: a run with two completes that must fail."""
    batch, single = _pair(tmp_path, "leases")
    for store in (batch, single):
        store.apply([Enqueue([NewJob("scan", f"k{i}") for i in range(3)])], NOW, POLICY)
        (claimed,) = store.apply([Claim(["scan"], 2, "w")], NOW, POLICY)
        assert [j.id for j in cast("list[Job]", claimed)] == [1, 2]
    ops: list[StoreOp] = [
        Complete(1, "w"),  # held by w: done
        Complete(3, "w"),  # never claimed: not w's lease
        Complete(2, "other"),  # claimed by w, completed by another worker
    ]
    together = batch.apply(ops, NOW, POLICY)
    assert _shape(together) == _shape(_one_by_one(single, ops))
    assert together[0] == [] and all(isinstance(r, LeaseLostError) for r in together[1:])
    assert _table(batch) == _table(single)
    statuses = [row[4] for row in _table(batch)]
    assert statuses == ["done", "running", "pending"]

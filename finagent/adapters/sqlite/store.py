"""SqliteJobStore: the synchronous JobStore the persistence actor drives from one thread.

``apply`` runs a whole batch of requests in one ``BEGIN IMMEDIATE`` … ``COMMIT`` (group commit)
with a savepoint per request, so a failing request is rolled back alone and reported to its
caller while the others commit.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, assert_never, cast, final

from finagent.adapters.sqlite.checkpoint import Checkpointer
from finagent.adapters.sqlite.faults import storage_fault
from finagent.adapters.sqlite.runs import (
    INSERT_ONE,
    complete_jobs,
    held,
    insert_jobs,
    pending_job,
    prepare,
)
from finagent.adapters.sqlite.schema import (
    COLUMNS,
    NEXT_ID,
    Synchronous,
    connect_writer,
    read_job,
    read_stats,
    row_to_job,
)
from finagent.domain.jobs import (
    Job,
    NewJob,
    QueueError,
    QueuePolicy,
    retry_delay,
)
from finagent.ports.queue import (
    Claim,
    Complete,
    Enqueue,
    Extend,
    Fail,
    GetJob,
    NextDue,
    Prune,
    Recover,
    Requeue,
    Stats,
    StoreOp,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["SqliteJobStore"]

_BY_KEY = f"SELECT {COLUMNS} FROM jobs WHERE key = ?"
_RUN_KINDS = (Enqueue, Complete)


def _claim_sql(n_types: int) -> str:
    marks = ", ".join("?" * n_types)
    return (
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?,"
        " lease_until = ?, updated_at = ? WHERE id IN (SELECT id FROM jobs"
        f" WHERE status = 'pending' AND run_at <= ? AND type IN ({marks})"
        f" ORDER BY run_at, id LIMIT ?) RETURNING {COLUMNS}"
    )


_RECOVER = (
    "UPDATE jobs SET"
    " status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END,"
    " finished_at = CASE WHEN attempts >= max_attempts THEN :now END,"
    " last_error = 'lease of ' || coalesce(lease_owner, '?') || ' lost after attempt '"
    " || attempts || coalesce(char(10) || last_error, ''),"
    " run_at = :now, updated_at = :now, lease_owner = NULL, lease_until = NULL"
    " WHERE status = 'running' AND (:all OR lease_until < :now) RETURNING id"
)


class _PartialWriteError(Exception):
    """An op failed after writing: replay the batch with savepoints."""


def _runs(ops: Sequence[StoreOp]) -> list[list[StoreOp]]:
    """Split ``ops`` into runs: consecutive Enqueues, consecutive Completes, anything alone."""
    runs: list[list[StoreOp]] = []
    for op in ops:
        kind = type(op)
        if runs and kind in _RUN_KINDS and type(runs[-1][0]) is kind:
            runs[-1].append(op)
        else:
            runs.append([op])
    return runs


@final
class SqliteJobStore:
    """The job store on one SQLite write connection (WAL). Use from one thread at a time.

    Args:
        conn: the write connection (:func:`connect_writer`).
        checkpointer: checkpoints the WAL off this connection's path (then open ``conn`` with
            ``autocheckpoint=False``); None leaves SQLite's automatic checkpoints on.
    """

    def __init__(self, conn: sqlite3.Connection, checkpointer: Checkpointer | None = None) -> None:
        self._conn = conn
        self._checkpointer = checkpointer
        self._claim_sql: dict[int, str] = {}
        self._next_id = 0  # 0: read NEXT_ID at the first insert of a transaction

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_ms: int = 5000,
        must_exist: bool = False,
        checkpoint_s: float | None = 0.1,
    ) -> SqliteJobStore:
        """Open (creating unless ``must_exist``, and migrating) the database at ``path``.

        Args:
            checkpoint_s: checkpoint the WAL from a background thread this long after commits
                (:class:`Checkpointer`); None keeps SQLite's checkpoints inside COMMIT.

        Raises:
            StoreError: one line naming the file when it cannot be used.
        """
        conn = connect_writer(
            path,
            synchronous=synchronous,
            busy_timeout_ms=busy_timeout_ms,
            must_exist=must_exist,
            autocheckpoint=checkpoint_s is None,
        )
        if checkpoint_s is None:
            return cls(conn)
        return cls(conn, Checkpointer(path, interval_s=checkpoint_s))

    def close(self) -> None:
        """Stop the checkpointer, if any, and close the write connection."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._conn.close()

    def apply(
        self, ops: Sequence[StoreOp], now: float, policy: QueuePolicy
    ) -> list[object | Exception]:
        """Apply ``ops`` in one transaction; returns a result or the error of each op.

        The fast path runs without savepoints: an op that fails before writing anything
        needs no undo. Only when an op fails half-way is the batch rolled back and replayed
        with a savepoint per op, so its partial writes are undone and the others commit.

        Raises:
            StorageUnavailableError: the batch could not commit for a storage reason (disk
                full, I/O error, locked, read-only); nothing of it was written.
        """
        try:
            try:
                return self._apply_batch(ops, now, policy, savepoints=False)
            except _PartialWriteError:
                return self._apply_batch(ops, now, policy, savepoints=True)
        except sqlite3.Error as exc:
            fault = storage_fault(exc)
            if fault is None:
                raise
            raise fault from exc

    def _apply_batch(
        self, ops: Sequence[StoreOp], now: float, policy: QueuePolicy, *, savepoints: bool
    ) -> list[object | Exception]:
        conn = self._conn
        results: list[object | Exception] = []
        conn.execute("BEGIN IMMEDIATE")
        self._next_id = 0
        try:
            for run in [[op] for op in ops] if savepoints else _runs(ops):
                if len(run) > 1:
                    results.extend(self._apply_run(run, now, policy))
                    continue
                op = run[0]
                if savepoints:
                    conn.execute("SAVEPOINT op")
                before = conn.total_changes
                try:
                    results.append(self._apply_one(op, now, policy))
                except (sqlite3.IntegrityError, ValueError, TypeError, QueueError) as exc:
                    if savepoints:
                        conn.execute("ROLLBACK TO op")
                    elif conn.total_changes != before:
                        raise _PartialWriteError from exc
                    results.append(exc)
                if savepoints:
                    conn.execute("RELEASE op")
            conn.execute("COMMIT")
            if self._checkpointer is not None:
                self._checkpointer.committed()
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    def _apply_run(
        self, run: Sequence[StoreOp], now: float, policy: QueuePolicy
    ) -> list[object | Exception]:
        """A run of Enqueue or Complete requests in a few statements (:mod:`sqlite_runs`)."""
        try:
            if isinstance(run[0], Enqueue):
                items = [(op.jobs, op.parent_id) for op in cast("Sequence[Enqueue]", run)]
                enqueued, self._next_id = insert_jobs(
                    self._conn, items, now, policy, self._next_free()
                )
                return list(enqueued)
            completes = cast("Sequence[Complete]", run)
            ids = [c.job_id for c in completes]
            if len(set(ids)) != len(ids) or max(ids) >= self._next_free():
                # The same job twice, or a job that does not exist yet: errors either way, but
                # which ones depends on the order, so replay the batch one request at a time.
                raise _PartialWriteError
            done = complete_jobs(
                self._conn, [(c.job_id, c.owner, c.outputs) for c in completes], now
            )
            with_outputs = [
                (c.outputs, c.job_id) for c, ok in zip(completes, done, strict=True)
                if ok is True and c.outputs
            ]  # fmt: skip
            outputs, self._next_id = insert_jobs(
                self._conn, with_outputs, now, policy, self._next_id
            ) if with_outputs else ([], self._next_id)  # fmt: skip
        except sqlite3.IntegrityError as exc:  # written in part: replay one request at a time
            raise _PartialWriteError from exc
        if any(isinstance(out, Exception) for out in outputs):
            raise _PartialWriteError  # an output failed after its input was marked done
        produced = iter(outputs)
        return [
            ok if isinstance(ok, Exception) else (next(produced) if c.outputs else [])
            for c, ok in zip(completes, done, strict=True)
        ]

    def _apply_one(self, op: StoreOp, now: float, policy: QueuePolicy) -> object:
        match op:
            case Enqueue(jobs, parent_id):
                return self._enqueue(jobs, parent_id, now, policy)
            case Claim(types, limit, owner):
                return self._claim(tuple(types), limit, owner, now, policy)
            case Complete(job_id, owner, outputs):
                return self._complete(job_id, owner, outputs, now, policy)
            case Fail(job_id, owner, error, retryable):
                return self._fail(job_id, owner, error, retryable, now, policy)
            case Extend(job_id, owner):
                return self._extend(job_id, owner, now, policy)
            case Requeue(job_id):
                return self._requeue(job_id, now)
            case Recover(orphans):
                rows = self._conn.execute(_RECOVER, {"now": now, "all": orphans}).fetchall()
                return [r[0] for r in rows]
            case Prune(older_than_s):
                return self._conn.execute(
                    "DELETE FROM jobs WHERE status = 'done' AND finished_at < ?",
                    (now - older_than_s,),
                ).rowcount
            case Stats():
                return read_stats(self._conn, now)
            case GetJob(job_id):
                return read_job(self._conn, job_id)
            case NextDue(types):
                return self._next_due(tuple(types))
            case _:
                assert_never(op)

    def _enqueue(
        self, jobs: Sequence[NewJob], parent_id: int | None, now: float, policy: QueuePolicy
    ) -> list[Job]:
        execute = self._conn.execute
        out: list[Job] = []
        for new in jobs:
            text, run_at, max_attempts = prepare(new, now, policy)
            job_id = self._next_free()
            cur = execute(
                INSERT_ONE,
                (job_id, new.type, new.key, text, max_attempts, run_at, now, now, parent_id),
            )
            if cur.rowcount != 1:
                out.append(row_to_job(execute(_BY_KEY, (new.key,)).fetchone()))
            else:
                self._next_id = job_id + 1
                out.append(pending_job(job_id, new, text, run_at, max_attempts, now, parent_id))
        return out

    def _next_free(self) -> int:
        """The id the next new job gets (read once a transaction, then counted here)."""
        if not self._next_id:
            self._next_id = int(self._conn.execute(NEXT_ID).fetchone()[0])
        return self._next_id

    def _claim(
        self, types: tuple[str, ...], limit: int, owner: str, now: float, policy: QueuePolicy
    ) -> list[Job]:
        if not types or limit <= 0:
            return []
        sql = self._claim_sql.get(len(types))
        if sql is None:
            sql = self._claim_sql[len(types)] = _claim_sql(len(types))
        rows = self._conn.execute(sql, (owner, now + policy.lease_s, now, now, *types, limit))
        return sorted(map(row_to_job, rows), key=lambda j: (j.run_at, j.id))

    def _complete(
        self,
        job_id: int,
        owner: str,
        outputs: Sequence[NewJob],
        now: float,
        policy: QueuePolicy,
    ) -> list[Job]:
        changed = self._conn.execute(
            "UPDATE jobs SET status = 'done', finished_at = ?, updated_at = ?, lease_owner = NULL,"
            " lease_until = NULL WHERE id = ? AND status = 'running' AND lease_owner = ?",
            (now, now, job_id, owner),
        ).rowcount
        if not changed:
            held(self._conn, job_id, owner)  # raises the precise error
        return self._enqueue(outputs, job_id, now, policy) if outputs else []

    def _fail(
        self, job_id: int, owner: str, error: str, retryable: bool, now: float, policy: QueuePolicy
    ) -> Job:
        _, _, attempts, max_attempts = held(self._conn, job_id, owner)
        if retryable and attempts < max_attempts:
            delay = retry_delay(attempts, policy.retry_base_s, policy.retry_max_s)
            status, run_at, finished = "pending", now + delay, None
        else:
            status, run_at, finished = "dead", now, now
        row = self._conn.execute(
            "UPDATE jobs SET status = ?, run_at = ?, finished_at = ?, last_error = ?,"
            " updated_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?"
            f" RETURNING {COLUMNS}",
            (status, run_at, finished, error, now, job_id),
        ).fetchone()
        return row_to_job(row)

    def _extend(self, job_id: int, owner: str, now: float, policy: QueuePolicy) -> bool:
        return bool(
            self._conn.execute(
                "UPDATE jobs SET lease_until = ?, updated_at = ?"
                " WHERE id = ? AND status = 'running' AND lease_owner = ?",
                (now + policy.lease_s, now, job_id, owner),
            ).rowcount
        )

    def _requeue(self, job_id: int, now: float) -> Job | None:
        row = self._conn.execute(
            "UPDATE jobs SET status = 'pending', attempts = 0, run_at = ?, updated_at = ?,"
            " finished_at = NULL, lease_owner = NULL, lease_until = NULL"
            f" WHERE id = ? AND status IN ('dead', 'running') RETURNING {COLUMNS}",
            (now, now, job_id),
        ).fetchone()
        return row_to_job(row) if row else read_job(self._conn, job_id)

    def _next_due(self, types: tuple[str, ...]) -> float | None:
        if not types:
            return None
        marks = ", ".join("?" * len(types))
        (when,) = self._conn.execute(
            f"SELECT MIN(run_at) FROM jobs WHERE status = 'pending' AND type IN ({marks})", types
        ).fetchone()
        return None if when is None else float(when)

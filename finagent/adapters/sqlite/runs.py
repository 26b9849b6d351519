"""Runs of like requests in a few statements: many enqueues, many completes at once.

A group commit holds requests from many concurrent callers, often dozens of enqueues and
completes. Applied one by one, each job costs one or two trips through the ``sqlite3`` module,
and each trip releases and re-takes the GIL that the Trio thread is using meanwhile. A run of
consecutive ``Enqueue`` (or ``Complete``) requests is applied here with a handful of statements
instead: one ``SELECT`` of the keys that exist, one multi-row ``INSERT`` per 100 new jobs, one
``UPDATE … RETURNING`` per lease owner. The outcome equals applying the run's requests one by
one, in order (the same ids, the same duplicates, the same errors).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from finagent.adapters.sqlite.schema import COLUMNS, row_to_job
from finagent.domain.jobs import Job, JobNotFoundError, JobStatus, LeaseLostError, NewJob

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

    from finagent.domain.jobs import QueuePolicy

__all__ = ["INSERT_ONE", "complete_jobs", "held", "insert_jobs", "pending_job", "prepare"]

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_CHUNK = 100  # rows (or keys) per statement: 9 parameters a row, far below SQLite's limit
_ROW = "(?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)"
_INSERT_HEAD = (
    "INSERT INTO jobs (id, type, key, payload, status, attempts, max_attempts, run_at,"
    " created_at, updated_at, parent_id) VALUES "
)
# One job; an existing key inserts nothing (rowcount 0) and the caller reads it back.
INSERT_ONE = _INSERT_HEAD + _ROW + " ON CONFLICT (key) DO NOTHING"

EnqueueItem = tuple["Sequence[NewJob]", "int | None"]  # (jobs, parent_id)
CompleteItem = tuple[int, str, "Sequence[NewJob]"]  # (job_id, owner, outputs)


def held(conn: sqlite3.Connection, job_id: int, owner: str) -> tuple[Any, ...]:
    """The lease row ``(status, owner, attempts, max_attempts)`` if ``owner`` holds the job.

    Raises:
        JobNotFoundError: no such job.
        LeaseLostError: the job is not running under ``owner``.
    """
    row = conn.execute(
        "SELECT status, lease_owner, attempts, max_attempts FROM jobs WHERE id = ?", (job_id,)
    ).fetchone()
    if row is None:
        raise JobNotFoundError(f"job {job_id} does not exist")
    if row[0] != "running" or row[1] != owner:
        raise LeaseLostError(f"job {job_id} is {row[0]}, not leased to {owner}")
    return tuple(row)


def prepare(new: NewJob, now: float, policy: QueuePolicy) -> tuple[str, float, int]:
    """A new job's payload text, run_at and max_attempts, as stored.

    Raises:
        TypeError | ValueError: the payload is not JSON-serialisable.
    """
    return (
        _DUMPS(new.payload),
        now if new.run_at is None else float(new.run_at),
        policy.max_attempts if new.max_attempts is None else new.max_attempts,
    )


def pending_job(
    job_id: int,
    new: NewJob,
    text: str,
    run_at: float,
    max_attempts: int,
    now: float,
    parent_id: int | None,
) -> Job:
    """The ``Job`` just inserted for ``new``, without reading it back."""
    return Job(
        job_id, new.type, new.key, json.loads(text), JobStatus.PENDING, 0, max_attempts,
        run_at, now, now, parent_id=parent_id,
    )  # fmt: skip


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def _existing(conn: sqlite3.Connection, keys: list[str]) -> dict[str, Job]:
    found: dict[str, Job] = {}
    for part in _chunks(keys):
        marks = ", ".join("?" * len(part))
        for row in conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE key IN ({marks})", part):
            found[row[2]] = row_to_job(row)
    return found


def insert_jobs(
    conn: sqlite3.Connection,
    items: Sequence[EnqueueItem],
    now: float,
    policy: QueuePolicy,
    next_id: int,
) -> tuple[list[list[Job] | Exception], int]:
    """Enqueue every item's jobs; returns each item's jobs (or its error) and the next free id.

    ``next_id`` is the first free id (the store keeps it). A payload that cannot be serialised
    fails its own item before anything is written. A constraint error raises
    ``sqlite3.IntegrityError`` after the failing statement was undone; the caller replays the
    run one request at a time.
    """
    prepared: list[list[tuple[NewJob, str, float, int]] | Exception] = []
    for jobs, _ in items:
        try:
            prepared.append([(new, *prepare(new, now, policy)) for new in jobs])
        except (TypeError, ValueError) as exc:
            prepared.append(exc)
    keys = list({new.key: None for rows in prepared if isinstance(rows, list) for new, *_ in rows})
    known = _existing(conn, keys) if keys else {}
    params: list[Any] = []
    results: list[list[Job] | Exception] = []
    for (_, parent_id), rows in zip(items, prepared, strict=True):
        if isinstance(rows, Exception):
            results.append(rows)
            continue
        out: list[Job] = []
        for new, text, run_at, max_attempts in rows:
            job = known.get(new.key)
            if job is None:
                job = known[new.key] = pending_job(
                    next_id, new, text, run_at, max_attempts, now, parent_id
                )
                params.append(
                    (next_id, new.type, new.key, text, max_attempts, run_at, now, now, parent_id)
                )
                next_id += 1
            out.append(job)
        results.append(out)
    for part in _chunks(params):
        conn.execute(
            _INSERT_HEAD + ", ".join([_ROW] * len(part)), [value for row in part for value in row]
        )
    return results, next_id


def complete_jobs(
    conn: sqlite3.Connection, items: Sequence[CompleteItem], now: float
) -> list[bool | Exception]:
    """Mark each leased job done; True per item that did, else its lease error.

    The items name distinct jobs that exist, so no item changes another's row and the result
    is the one-by-one result. The caller then enqueues the outputs of the items that succeeded,
    in order.
    """
    by_owner: dict[str, list[int]] = {}
    for job_id, owner, _ in items:
        by_owner.setdefault(owner, []).append(job_id)
    done: set[int] = set()
    for owner, ids in by_owner.items():
        for part in _chunks(ids):
            marks = ", ".join("?" * len(part))
            rows = conn.execute(
                "UPDATE jobs SET status = 'done', finished_at = ?, updated_at = ?,"
                " lease_owner = NULL, lease_until = NULL"
                f" WHERE status = 'running' AND lease_owner = ? AND id IN ({marks}) RETURNING id",
                (now, now, owner, *part),
            ).fetchall()
            done.update(row[0] for row in rows)
    results: list[bool | Exception] = []
    for job_id, owner, _ in items:
        if job_id in done:
            results.append(True)
            continue
        try:
            held(conn, job_id, owner)
        except (JobNotFoundError, LeaseLostError) as exc:
            results.append(exc)
        else:  # pragma: no cover - the UPDATE above took every job its owner held
            raise AssertionError(f"job {job_id} is held by {owner} but was not completed")
    return results

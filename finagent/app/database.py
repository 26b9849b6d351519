"""The job database as the CLI sees it: read-only queries and queue repairs.

Reads use a read-only connection (``mode=ro``), safe while the daemon runs. Writes (requeue,
purge) are short ``BEGIN IMMEDIATE`` transactions under the busy timeout.
Every function raises :class:`~finagent.domain.errors.StorageError` (one line naming the file)
when the file cannot be used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finagent.adapters.sqlite import schema, state
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import Job, JobStatus, QueuePolicy
from finagent.ports.queue import Prune, Requeue

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from finagent.domain.jobs import QueueStats

__all__ = [
    "daemon_now",
    "jobs_with_key_prefix",
    "latest_report_date",
    "list_jobs",
    "purge_done",
    "queue_stats",
    "read_job",
    "read_report",
    "read_reports",
    "requeue",
]

#: requeue this many jobs per transaction, so the daemon's writer is never held up for long
_CHUNK = 500


def daemon_now(path: Path, wall: float) -> float:
    """The daemon's clock at wall time ``wall``: its anchored timeline, else ``wall``.

    A simulated run's jobs carry virtual times; measuring their age against the wall clock
    made ``queue stats`` report a day's gap (98,641 s) between the timelines.
    """
    anchor = state.read_anchor(path)
    return wall if anchor is None else anchor.virtual(wall)


def queue_stats(path: Path, now: float) -> QueueStats:
    """Counts by type and status, and the oldest due pending job's age at ``now``."""
    conn = schema.connect_reader(path)
    try:
        return schema.read_stats(conn, now)
    finally:
        conn.close()


def list_jobs(
    path: Path, *, status: JobStatus | None = None, job_type: str | None = None, limit: int = 50
) -> list[Job]:
    """Jobs, newest first, optionally of one status and type."""
    conn = schema.connect_reader(path)
    try:
        return schema.list_jobs(conn, status=status, job_type=job_type, limit=limit)
    finally:
        conn.close()


def jobs_with_key_prefix(path: Path, prefix: str) -> list[Job]:
    """Jobs whose key starts with ``prefix`` (``execute:2025-01-06:``), in id order."""
    conn = schema.connect_reader(path)
    try:
        return schema.jobs_with_key_prefix(conn, prefix)
    finally:
        conn.close()


def read_job(path: Path, job_id: int) -> Job | None:
    """One job, or None."""
    conn = schema.connect_reader(path)
    try:
        return schema.read_job(conn, job_id)
    finally:
        conn.close()


def requeue(path: Path, job_id: int | None, *, busy_timeout_ms: int, now: float) -> list[int]:
    """Move ``job_id`` (or, None, every dead job) back to pending; the ids it moved."""
    store = SqliteJobStore.open(path, must_exist=True, busy_timeout_ms=busy_timeout_ms)
    try:
        ids = [job_id] if job_id is not None else [j.id for j in _all_dead(path)]
        done: list[int] = []
        for start in range(0, len(ids), _CHUNK):
            results = store.apply([Requeue(i) for i in ids[start : start + _CHUNK]], now,
                                  QueuePolicy())  # fmt: skip
            done += [r.id for r in results if isinstance(r, Job) and r.status is JobStatus.PENDING]
        return done
    finally:
        store.close()


def _all_dead(path: Path) -> list[Job]:
    conn = schema.connect_reader(path)
    try:
        return schema.list_jobs(conn, status=JobStatus.DEAD, limit=-1)  # -1: no limit
    finally:
        conn.close()


def purge_done(path: Path, older_than_s: float, *, busy_timeout_ms: int, now: float) -> int:
    """Delete done jobs finished more than ``older_than_s`` ago; how many went."""
    store = SqliteJobStore.open(path, must_exist=True, busy_timeout_ms=busy_timeout_ms)
    try:
        (deleted,) = store.apply([Prune(older_than_s)], now, QueuePolicy())
        assert isinstance(deleted, int)  # Prune's result is its row count
        return deleted
    finally:
        store.close()


def latest_report_date(path: Path) -> str | None:
    """The newest session date with a stored daily report, or None."""
    return state.latest_report_date(path)


def read_report(path: Path, session_date: str) -> Mapping[str, object] | None:
    """A stored daily report, or None."""
    return state.read_report(path, session_date)


def read_reports(path: Path) -> list[tuple[str, Mapping[str, Any]]]:  # JSON, read by key
    """Every stored daily report as ``(session_date, report)``, oldest first."""
    return state.read_reports(path)

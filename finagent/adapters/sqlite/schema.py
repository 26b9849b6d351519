"""SQLite schema, migrations (PRAGMA user_version) and connections for the job queue.

Only the persistence actor's store writes through :func:`connect_writer` in the daemon; the CLI
and metrics read through :func:`connect_reader` (``mode=ro``). Opening problems become one-line
:class:`StoreError` messages that name the file, and leave the file untouched.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from finagent.domain.errors import StorageError
from finagent.domain.jobs import Job, JobStatus, QueueStats

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "COLUMNS",
    "NEXT_ID",
    "PAGE_SIZE",
    "SCHEMA_VERSION",
    "StoreError",
    "check_file",
    "connect_reader",
    "connect_writer",
    "jobs_with_key_prefix",
    "list_jobs",
    "read_job",
    "read_stats",
    "row_to_job",
]

Synchronous = Literal["OFF", "NORMAL", "FULL"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_CACHE_KIB = 64 * 1024
# Pages of new database files. Each commit writes every page it dirtied to the WAL, and jobs
# from concurrent producers land on scattered leaves of the UNIQUE key index: a batch of 16
# enqueues dirties ~16 of them. 2 KiB pages halve the bytes a commit writes and the CPU it
# takes against SQLite's 4 KiB default (+19 % enqueue and +18 % full-cycle throughput,
# docs/benchmarks.md); a job row of up to ~2 KB still fits on one page.
PAGE_SIZE = 2048

# Each entry upgrades user_version i to i+1. Append only: never edit a shipped migration.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        type         TEXT    NOT NULL,
        key          TEXT    NOT NULL UNIQUE,
        payload      TEXT    NOT NULL CHECK (json_valid(payload)),
        status       TEXT    NOT NULL
                     CHECK (status IN ('pending', 'running', 'done', 'dead')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
        run_at       REAL    NOT NULL,
        created_at   REAL    NOT NULL,
        updated_at   REAL    NOT NULL,
        lease_owner  TEXT,
        lease_until  REAL,
        finished_at  REAL,
        last_error   TEXT,
        parent_id    INTEGER
    );
    CREATE INDEX jobs_due ON jobs (type, run_at, id) WHERE status = 'pending';
    CREATE INDEX jobs_leased ON jobs (lease_until) WHERE status = 'running';
    CREATE INDEX jobs_done ON jobs (finished_at) WHERE status = 'done';
    CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;
    """,
    # 2: no AUTOINCREMENT (its sqlite_sequence write cost ~40 % of an insert). Ids are still
    # never reused: job_id_floor keeps the highest id ever deleted (trigger, whoever deletes),
    # and the store gives each new job max(max(id), floor) + 1 (it is the only inserter).
    """
    CREATE TABLE jobs_v2 (
        id           INTEGER PRIMARY KEY,
        type         TEXT    NOT NULL,
        key          TEXT    NOT NULL UNIQUE,
        payload      TEXT    NOT NULL CHECK (json_valid(payload)),
        status       TEXT    NOT NULL
                     CHECK (status IN ('pending', 'running', 'done', 'dead')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
        run_at       REAL    NOT NULL,
        created_at   REAL    NOT NULL,
        updated_at   REAL    NOT NULL,
        lease_owner  TEXT,
        lease_until  REAL,
        finished_at  REAL,
        last_error   TEXT,
        parent_id    INTEGER
    );
    INSERT INTO jobs_v2 SELECT id, type, key, payload, status, attempts, max_attempts, run_at,
        created_at, updated_at, lease_owner, lease_until, finished_at, last_error, parent_id
        FROM jobs;
    CREATE TABLE job_id_floor (one INTEGER PRIMARY KEY CHECK (one = 1), id INTEGER NOT NULL);
    INSERT INTO job_id_floor VALUES (1, max(
        coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0),
        coalesce((SELECT max(id) FROM jobs), 0)));
    DROP TABLE jobs;
    ALTER TABLE jobs_v2 RENAME TO jobs;
    CREATE INDEX jobs_due ON jobs (type, run_at, id) WHERE status = 'pending';
    CREATE INDEX jobs_leased ON jobs (lease_until) WHERE status = 'running';
    CREATE INDEX jobs_done ON jobs (finished_at) WHERE status = 'done';
    CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;
    CREATE TRIGGER jobs_id_floor AFTER DELETE ON jobs
        WHEN OLD.id > (SELECT id FROM job_id_floor)
        BEGIN UPDATE job_id_floor SET id = OLD.id; END;
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)

COLUMNS = (
    "id, type, key, payload, status, attempts, max_attempts, run_at, created_at, updated_at, "
    "lease_owner, lease_until, finished_at, last_error, parent_id"
)
_STATUS = {s.value: s for s in JobStatus}
# The id of the next job: above every id that exists or ever existed (see migration 2).
NEXT_ID = "SELECT max(coalesce((SELECT max(id) FROM jobs), 0), (SELECT id FROM job_id_floor)) + 1"


class StoreError(StorageError):
    """The database file cannot be used; the message is one line naming the file."""


def row_to_job(row: Sequence[Any]) -> Job:
    """Build a :class:`Job` from a row selected with :data:`COLUMNS`."""
    lease_until, finished_at = row[11], row[12]
    return Job(
        row[0], row[1], row[2], json.loads(row[3]), _STATUS[row[4]], row[5], row[6],
        float(row[7]), float(row[8]), float(row[9]), row[10],
        None if lease_until is None else float(lease_until),
        None if finished_at is None else float(finished_at), row[13], row[14],
    )  # fmt: skip


def check_file(path: Path, *, must_exist: bool) -> None:
    """Refuse a path that cannot hold the database: a directory, missing, not SQLite."""
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a database file")
    if not path.exists():
        if must_exist:
            raise StoreError(f"{path}: no such database file")
        if not path.parent.is_dir():
            raise StoreError(f"{path}: cannot create database: {path.parent} is not a directory")
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read database file: {exc.strerror}") from None
    if head and head != _SQLITE_MAGIC:
        raise StoreError(f"{path}: not a SQLite database")


def _check_version(conn: sqlite3.Connection, path: Path) -> int:
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a usable SQLite database ({exc})") from None
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {version} is newer than this finagent supports "
            f"({SCHEMA_VERSION}); upgrade finagent"
        )
    return version


def _statements(script: str) -> list[str]:
    """Split a script into statements (a trigger body holds ``;`` of its own)."""
    out: list[str] = []
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending)
            pending = ""
    return out


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _check_version(conn, path)
        for number in range(version, SCHEMA_VERSION):
            for statement in _statements(_MIGRATIONS[number]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def connect_writer(
    path: Path,
    *,
    synchronous: Synchronous = "NORMAL",
    busy_timeout_ms: int = 5000,
    must_exist: bool = False,
    autocheckpoint: bool = True,
) -> sqlite3.Connection:
    """Open the read-write connection: WAL, ``synchronous``, busy timeout, schema migrated.

    The connection is in autocommit mode (callers issue ``BEGIN IMMEDIATE``) and may be used
    from one other thread at a time (``check_same_thread=False``). Its page cache may grow to
    64 MiB, so the queue's indexes stay in memory. A new file gets :data:`PAGE_SIZE` pages (an
    existing one keeps its own). ``autocheckpoint=False`` leaves WAL
    checkpoints to someone else (``Checkpointer``); the WAL is truncated back to 64 MiB when
    it restarts.

    Raises:
        StoreError: the path cannot be written, is not SQLite, or has a newer schema.
    """
    path = Path(path)
    check_file(path, must_exist=must_exist)
    mode = "rw" if must_exist else "rwc"
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode={mode}",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open database for writing ({exc})") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        _check_version(conn, path)
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new file only; kept once created
        mode_row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        # A writable file answers "wal" or raises; another mode means a file SQLite cannot share.
        if str(mode_row[0]).lower() != "wal":  # pragma: no cover - an unshareable file only
            raise StoreError(f"{path}: cannot switch the database to WAL mode")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(f"PRAGMA cache_size = {-_CACHE_KIB}")
        conn.execute(f"PRAGMA journal_size_limit = {_CACHE_KIB * 1024}")
        if not autocheckpoint:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        _migrate(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"{path}: cannot write database ({exc})") from None
    except BaseException:
        conn.close()
        raise
    return conn


def connect_reader(path: Path, *, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open a read-only connection (``mode=ro``); the schema must exist and not be newer.

    Raises:
        StoreError: missing file, not SQLite, newer schema or no job table yet.
    """
    path = Path(path)
    check_file(path, must_exist=True)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    except sqlite3.Error as exc:  # pragma: no cover - check_file just read it: a race only
        raise StoreError(f"{path}: cannot open database ({exc})") from None
    try:
        version = _check_version(conn, path)
    except BaseException:
        conn.close()
        raise
    if version < SCHEMA_VERSION:
        conn.close()
        raise StoreError(f"{path}: no job queue schema (version {version}); start the daemon once")
    return conn


def read_job(conn: sqlite3.Connection, job_id: int) -> Job | None:
    """One job by id, or None."""
    row = conn.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row_to_job(row) if row else None


def jobs_with_key_prefix(conn: sqlite3.Connection, prefix: str) -> list[Job]:
    """Jobs whose key starts with ``prefix``, in id order (a range scan of the key index)."""
    # The key index is binary-ordered: every key with the prefix sorts in [prefix, prefix+U+10FFFF).
    sql = f"SELECT {COLUMNS} FROM jobs WHERE key >= ? AND key < ? ORDER BY id"
    return [row_to_job(r) for r in conn.execute(sql, (prefix, prefix + "\U0010ffff"))]


def list_jobs(
    conn: sqlite3.Connection,
    *,
    status: JobStatus | None = None,
    job_type: str | None = None,
    limit: int = 50,
) -> list[Job]:
    """Jobs filtered by status and type, newest first."""
    where, args = [], []
    if status is not None:
        where.append("status = ?")
        args.append(status.value)
    if job_type is not None:
        where.append("type = ?")
        args.append(job_type)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {COLUMNS} FROM jobs {clause} ORDER BY id DESC LIMIT ?"
    return [row_to_job(r) for r in conn.execute(sql, (*args, limit))]


def read_stats(conn: sqlite3.Connection, now: float) -> QueueStats:
    """Counts by (type, status) and the age of the oldest due pending job."""
    counts = {
        (jtype, _STATUS[status]): int(n)
        for jtype, status, n in conn.execute(
            "SELECT type, status, COUNT(*) FROM jobs GROUP BY type, status"
        )
    }
    (oldest,) = conn.execute(
        "SELECT MIN(run_at) FROM jobs WHERE status = 'pending' AND run_at <= ?", (now,)
    ).fetchone()
    return QueueStats(counts, None if oldest is None else max(0.0, now - float(oldest)))

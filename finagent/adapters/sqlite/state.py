"""Trading tables next to the job queue: control, daily reports, schedule cursor, sim anchor.

``SqliteTradingStore`` is the ``JobStore`` the persistence actor drives: job operations go to
``SqliteJobStore`` in its group-commit transaction, and the trading operations of the same batch
(``finagent.ports.trading``) follow in a second short transaction on the same connection, so
every daemon write still goes through the single writer. The CLI's ``halt``/``resume`` and the
sim anchor use :func:`set_control` / :func:`load_anchor` (short transactions of their own);
``up`` checks and drops the anchor with :func:`read_anchor` / :func:`clear_anchor`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from finagent.adapters.sqlite.checkpoint import Checkpointer
from finagent.adapters.sqlite.faults import storage_fault
from finagent.adapters.sqlite.schema import (
    StoreError,
    Synchronous,
    connect_reader,
    connect_writer,
)
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.ports.trading import (
    Applied,
    Control,
    GetCursor,
    GetReport,
    JobTrail,
    PutApplied,
    PutCursor,
    PutReport,
    ReadControl,
    SessionJobs,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from finagent.domain.jobs import QueuePolicy
    from finagent.ports.storage import StoreIdentity

__all__ = [
    "SimAnchor",
    "SqliteTradingStore",
    "clear_anchor",
    "latest_report_date",
    "load_anchor",
    "read_anchor",
    "read_applied",
    "read_control",
    "read_report",
    "read_reports",
    "set_control",
]

_TABLES = """
CREATE TABLE IF NOT EXISTS trading_control (
    id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL,
    flatten_seq INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS daily_reports (
    session_date TEXT PRIMARY KEY, report TEXT NOT NULL CHECK (json_valid(report)));
CREATE TABLE IF NOT EXISTS schedule_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1), handled REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trading_applied (
    id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, flatten_seq INTEGER NOT NULL,
    requested_at REAL NOT NULL, pid INTEGER NOT NULL, applied_at REAL NOT NULL, held TEXT);
CREATE TABLE IF NOT EXISTS sim_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1), wall_start REAL NOT NULL, sim_start REAL NOT NULL,
    speed REAL NOT NULL);
"""
_DUMPS = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
STATES = ("active", "reducing", "halted")


def _ensure(conn: sqlite3.Connection) -> None:
    conn.executescript(_TABLES)


def _control(conn: sqlite3.Connection) -> Control:
    row = conn.execute(
        "SELECT state, flatten_seq, updated_at FROM trading_control WHERE id = 1"
    ).fetchone()
    return Control() if row is None else Control(row[0], int(row[1]), float(row[2]))


def _trail(conn: sqlite3.Connection, day: str) -> list[JobTrail]:
    rows = conn.execute(
        "SELECT type, key, status, attempts, payload, created_at, run_at, finished_at,"
        " last_error FROM jobs WHERE key LIKE ? ORDER BY id",
        (f"%:{day}%",),
    ).fetchall()
    return [
        JobTrail(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8]) for r in rows
    ]


@final
class SqliteTradingStore:
    """The job store plus the trading tables, on one write connection (the single writer).

    ``observe(ops, seconds)`` is called after every batch (the commit metrics).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        observe: Callable[[int, float], None] | None = None,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        _ensure(conn)
        self._conn = conn
        self._jobs = SqliteJobStore(conn, checkpointer)
        self.observe = observe
        #: when set, every batch first checks that the path still names the opened file
        self.identity: StoreIdentity | None = None

    @classmethod
    def open(
        cls, path: Path, *, synchronous: Synchronous = "NORMAL", busy_timeout_ms: int = 5000
    ) -> SqliteTradingStore:
        """Open (creating if needed) the database at ``path``; raises ``StoreError``.

        WAL checkpoints run on a second connection off the commit path (see docs/queue.md).
        """
        conn = connect_writer(
            path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms, autocheckpoint=False
        )
        return cls(conn, checkpointer=Checkpointer(path))

    def close(self) -> None:
        """Stop the checkpointer and close the write connection."""
        self._jobs.close()

    def anchor(self, default: SimAnchor) -> SimAnchor:
        """The sim timeline anchor of this database (stored on first use)."""
        return load_anchor(self._conn, default)

    def apply(
        self, ops: Sequence[Any], now: float, policy: QueuePolicy
    ) -> list[object | Exception]:
        """Job ops in the job store's group commit, then trading ops; results in order.

        Raises:
            StoreError: the database file was deleted or replaced: nothing is written to it.
        """
        moved = self.identity.changed() if self.identity is not None else None
        if moved is not None:
            raise StoreError(f"{moved}; not writing to it")
        started = time.perf_counter()
        try:
            results = self._apply(ops, now, policy)
        except sqlite3.Error as exc:  # the trading ops' transaction; the job store's translates
            fault = storage_fault(exc)
            if fault is None:
                raise
            raise fault from exc
        if self.observe is not None:
            self.observe(len(ops), time.perf_counter() - started)
        return results

    def _apply(
        self, ops: Sequence[Any], now: float, policy: QueuePolicy
    ) -> list[object | Exception]:
        mine = [i for i, op in enumerate(ops) if isinstance(op, _OPS)]
        if not mine:
            return self._jobs.apply(ops, now, policy)
        taken = set(mine)
        jobs = [op for i, op in enumerate(ops) if i not in taken]
        # Trading ops first: they are reads or idempotent puts, so when the job ops then hit a
        # storage fault the writer can replay the whole batch without doing anything twice.
        own = iter(self._apply_mine([ops[i] for i in mine], now))
        job_results = iter(self._jobs.apply(jobs, now, policy) if jobs else [])
        return [next(own) if i in taken else next(job_results) for i in range(len(ops))]

    def _apply_mine(self, ops: Sequence[Any], now: float) -> list[object | Exception]:
        conn = self._conn
        out: list[object | Exception] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                match op:
                    case ReadControl():
                        out.append(_control(conn))
                    case PutReport(day, report):
                        conn.execute(
                            "INSERT OR REPLACE INTO daily_reports VALUES (?, ?)",
                            (day, _DUMPS(report)),
                        )
                        out.append(None)
                    case GetReport(day):
                        out.append(_get_report(conn, day))
                    case SessionJobs(day):
                        out.append(_trail(conn, day))
                    case GetCursor():
                        row = conn.execute("SELECT handled FROM schedule_cursor").fetchone()
                        out.append(None if row is None else float(row[0]))
                    case PutCursor(handled):
                        conn.execute(
                            "INSERT OR REPLACE INTO schedule_cursor VALUES (1, ?)", (handled,)
                        )
                        out.append(None)
                    case PutApplied(a):
                        conn.execute(
                            "INSERT OR REPLACE INTO trading_applied VALUES (1, ?, ?, ?, ?, ?, ?)",
                            (a.state, a.flatten_seq, a.requested_at, a.pid, a.applied_at, a.held),
                        )
                        out.append(None)
                    case _:  # pragma: no cover - _OPS filters the ops
                        out.append(TypeError(f"unknown trading op {op!r}"))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return out


_OPS = (ReadControl, PutReport, GetReport, SessionJobs, GetCursor, PutCursor, PutApplied)


def _get_report(conn: sqlite3.Connection, day: str) -> Mapping[str, Any] | None:
    row = conn.execute("SELECT report FROM daily_reports WHERE session_date = ?", (day,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def set_control(
    path: Path, state: str, *, flatten: bool, now: float, must_exist: bool = False
) -> Control:
    """The CLI's kill switch: set the state (and ask for a flatten) in one short transaction.

    ``must_exist``: refuse a missing file (``StoreError``) instead of creating one.
    """
    if state not in STATES:
        raise ValueError(f"unknown trading state {state!r}")
    conn = connect_writer(path, must_exist=must_exist)
    try:
        _ensure(conn)
        conn.execute("BEGIN IMMEDIATE")
        seq = _control(conn).flatten_seq + (1 if flatten else 0)
        conn.execute(
            "INSERT OR REPLACE INTO trading_control (id, state, flatten_seq, updated_at)"
            " VALUES (1, ?, ?, ?)",
            (state, seq, now),
        )
        conn.execute("COMMIT")
        return _control(conn)
    finally:
        conn.close()


def _read(path: Path, fn: Any, *args: Any) -> Any:
    conn = connect_reader(path)
    try:
        return fn(conn, *args)
    except sqlite3.OperationalError:  # the trading tables are made on the daemon's first start
        return None
    except sqlite3.DatabaseError as exc:  # pages that are not what their header promises
        raise StoreError(f"{path}: database is corrupt ({exc}); restore it from a backup") from None
    finally:
        conn.close()


def read_control(path: Path) -> Control:
    """The control row (defaults when the daemon never ran); raises ``StoreError``."""
    found: Control | None = _read(path, _control)
    return found or Control()


def _applied(conn: sqlite3.Connection) -> Applied | None:
    row = conn.execute(
        "SELECT state, flatten_seq, requested_at, pid, applied_at, held FROM trading_applied"
    ).fetchone()
    if row is None:
        return None
    return Applied(row[0], int(row[1]), float(row[2]), int(row[3]), float(row[4]), row[5])


def read_applied(path: Path) -> Applied | None:
    """What a daemon last applied of the control row, or None; raises ``StoreError``."""
    found: Applied | None = _read(path, _applied)
    return found


def latest_report_date(path: Path) -> str | None:
    """The newest session date (ISO) with a stored daily report, or None."""
    row = _read(path, lambda conn: conn.execute(
        "SELECT max(session_date) FROM daily_reports").fetchone())  # fmt: skip
    return None if row is None or row[0] is None else str(row[0])


def read_report(path: Path, session_date: str) -> Mapping[str, Any] | None:
    """A stored daily report, or None; raises ``StoreError`` when the file is unusable."""
    return _read(path, _get_report, session_date)  # type: ignore[no-any-return]  # via _read


def read_reports(path: Path) -> list[tuple[str, Mapping[str, Any]]]:
    """Every stored daily report as ``(session_date, report)``, oldest first.

    Raises:
        StoreError: the file is not a usable finagent database.
    """
    sql = "SELECT session_date, report FROM daily_reports ORDER BY session_date"
    rows = _read(path, lambda conn: conn.execute(sql).fetchall())
    return [(str(day), dict(json.loads(text))) for day, text in rows or ()]


@dataclass(frozen=True, slots=True)
class SimAnchor:
    """The simulated timeline: virtual time = sim_start + (wall - wall_start) x speed."""

    wall_start: float
    sim_start: float
    speed: float

    def virtual(self, wall: float) -> float:
        """The virtual epoch seconds at wall time ``wall``."""
        return self.sim_start + (wall - self.wall_start) * self.speed


def load_anchor(conn: sqlite3.Connection, default: SimAnchor) -> SimAnchor:
    """The stored anchor, or store and return ``default`` (the first start of this DB)."""
    _ensure(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT wall_start, sim_start, speed FROM sim_anchor").fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO sim_anchor VALUES (1, ?, ?, ?)",
                (default.wall_start, default.sim_start, default.speed),
            )
            found = default
        else:
            found = SimAnchor(float(row[0]), float(row[1]), float(row[2]))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite already rolled back on SQLITE_FULL: keep its error
            conn.execute("ROLLBACK")
        raise
    return found


def _anchor_row(conn: sqlite3.Connection) -> SimAnchor | None:
    row = conn.execute("SELECT wall_start, sim_start, speed FROM sim_anchor").fetchone()
    return None if row is None else SimAnchor(float(row[0]), float(row[1]), float(row[2]))


def read_anchor(path: Path) -> SimAnchor | None:
    """The stored sim timeline, or None (no database yet, or it never ran on the sim feed).

    Raises:
        StoreError: the file exists but is not a usable finagent database.
    """
    if not path.exists():
        return None
    found: SimAnchor | None = _read(path, _anchor_row)
    return found


def clear_anchor(path: Path) -> bool:
    """Drop the stored sim timeline so the next start anchors a new one; True if there was one.

    Raises:
        StoreError: the file exists but is not a usable finagent database.
    """
    if not path.exists():
        return False
    conn = connect_writer(path, must_exist=True)
    try:
        _ensure(conn)
        return conn.execute("DELETE FROM sim_anchor").rowcount > 0  # autocommit
    finally:
        conn.close()

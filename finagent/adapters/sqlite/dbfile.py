"""The database file itself: one daemon per file, its identity watched, its pages checked.

- :func:`hold_database` takes an OS lock (``flock``) on a sidecar ``<db>.lock`` holding the
  pid. The kernel drops it with the process, so ``kill -9`` never leaves a stale lock. A
  SQLite-backed daemon holds it exclusively; processes sharing one file on the Redis backend
  hold it shared, so neither kind can start beside the other.
- :class:`FileIdentity` remembers the file's device and inode when the daemon opened it and
  tells whether the path was since deleted or replaced (a write would then go to a file
  nobody can ever read again).
- :func:`check_integrity` runs ``PRAGMA quick_check`` on a read-only connection before the
  daemon opens the file for writing, so a corrupt file is refused untouched.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

from finagent.adapters.sqlite.schema import StoreError, check_file

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "INTEGRITY_BUDGET_S",
    "DatabaseInUseError",
    "FileIdentity",
    "IntegrityReport",
    "check_integrity",
    "hold_database",
    "lock_path",
]

#: Seconds ``quick_check`` may take at start before it stops unfinished. A 1 GiB job database
#: takes 0.9 s from the page cache but 14 s cold from this VM's disk (docs/benchmarks.md).
INTEGRITY_BUDGET_S: Final = 5.0
# SQLite calls the progress handler every this many steps (quick_check counts pages: a
# 300 MB file makes ~11,000 calls, ~1 % of its time).
_PROGRESS_STEPS = 1000


class DatabaseInUseError(StoreError):
    """Another finagent process holds the database's lock; the message names its pid."""


def lock_path(db_path: Path) -> Path:
    """The sidecar lock file: ``finagent.db`` → ``finagent.db.lock``."""
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def hold_database(db_path: Path, *, exclusive: bool = True) -> Iterator[None]:
    """Hold the database's lock while the block runs (``exclusive``: one process only).

    Raises:
        DatabaseInUseError: another process holds it: ``database … is in use by pid N``.
        StoreError: the lock file cannot be opened (the directory is missing or read-only).
    """
    path = lock_path(db_path)
    if not db_path.parent.is_dir():
        raise StoreError(f"{db_path}: cannot create database: {db_path.parent} is not a directory")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"{db_path}: cannot open its lock file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise DatabaseInUseError(f"database {db_path} is in use by pid {holder}") from None
        # The pid is for the operator's message only: the lock itself is the kernel's.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@final
class FileIdentity:
    """The database file as the daemon opened it (device, inode); tells if the path moved on."""

    def __init__(self, path: Path) -> None:
        self._path = path
        found = os.stat(path)
        self._id = (found.st_dev, found.st_ino)

    @property
    def path(self) -> Path:
        """The watched path."""
        return self._path

    def changed(self) -> str | None:
        """None while the path is still the opened file, else what happened to it, one line."""
        try:
            found = os.stat(self._path)
        except FileNotFoundError:
            return f"database {self._path} was deleted under the running daemon"
        if (found.st_dev, found.st_ino) != self._id:
            return f"database {self._path} was replaced by another file under the running daemon"
        return None


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    """A quick_check that found nothing: whether it ran to the end, and how long it took."""

    complete: bool
    seconds: float


def check_integrity(path: Path, *, budget_s: float = INTEGRITY_BUDGET_S) -> IntegrityReport:
    """``PRAGMA quick_check`` on a read-only connection, stopped after ``budget_s`` seconds.

    A missing file is fine (the daemon creates it). The file is never written.

    Raises:
        StoreError: the file is corrupt (the first problem quick_check reported).
    """
    started = time.perf_counter()
    if not path.exists():
        return IntegrityReport(complete=True, seconds=0.0)
    check_file(path, must_exist=True)  # a file that is not SQLite at all says so, not "corrupt"
    deadline = started + budget_s
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    stopped = False

    def over_budget() -> bool:
        nonlocal stopped
        stopped = time.perf_counter() > deadline
        return stopped  # a true value interrupts the statement

    conn.set_progress_handler(over_budget, _PROGRESS_STEPS)
    try:
        # quick_check(1): the first problem is enough to refuse the file.
        rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.DatabaseError as exc:  # "interrupted" when over budget, else corruption
        if stopped:
            return IntegrityReport(complete=False, seconds=time.perf_counter() - started)
        raise StoreError(f"{path}: database is corrupt ({exc}); restore it from a backup") from None
    finally:
        conn.close()
    first = str(rows[0][0]) if rows else "ok"
    if first != "ok":
        first = " ".join(first.split())
        raise StoreError(f"{path}: database is corrupt ({first}); restore it from a backup")
    return IntegrityReport(complete=True, seconds=time.perf_counter() - started)

"""The database file itself: one daemon per file, its identity watched, its pages checked.

- :func:`hold_database` takes an OS lock (``flock``) on a sidecar ``<db>.lock`` holding the
  pid. The kernel drops it with the process, so ``kill -9`` never leaves a stale lock. A
  SQLite-backed daemon holds it exclusively; processes sharing one file on the Redis backend
  hold it shared, so neither kind can start beside the other. A second line may describe the
  holder (``note``: version, feed, broker...); :func:`lock_holder` reads both for ``status``.
- :class:`FileIdentity` remembers the file's device and inode when the daemon opened it and
  tells whether the path was since deleted or replaced (a write would then go to a file
  nobody can ever read again).
- :func:`check_integrity` runs ``PRAGMA quick_check`` on a read-only connection before the
  daemon opens the file for writing, so a corrupt file is refused untouched.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

from finagent.adapters.sqlite.schema import StoreError, check_file

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

__all__ = [
    "INTEGRITY_BUDGET_S",
    "DatabaseInUseError",
    "FileIdentity",
    "IntegrityReport",
    "LockHolder",
    "check_integrity",
    "hold_database",
    "lock_holder",
    "lock_path",
]

#: Seconds ``quick_check`` may take at start before it stops unfinished. A 1 GiB job database
#: takes 0.9 s from the page cache but 14 s cold from this VM's disk (docs/benchmarks.md).
INTEGRITY_BUDGET_S: Final = 5.0
# SQLite calls the progress handler every this many steps (quick_check counts pages: a
# 300 MB file makes ~11,000 calls, ~1 % of its time).
_PROGRESS_STEPS = 1000
# ``lock_holder`` takes the lock for a few microseconds to learn whether anyone holds it: a
# process starting in that instant retries for this long instead of refusing at once.
_CONTENDED_S = 0.25


class DatabaseInUseError(StoreError):
    """Another finagent process holds the database's lock; the message names its pid."""


def lock_path(db_path: Path) -> Path:
    """The sidecar lock file: ``finagent.db`` → ``finagent.db.lock``."""
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def hold_database(
    db_path: Path, *, exclusive: bool = True, note: Mapping[str, Any] | None = None
) -> Iterator[None]:
    """Hold the database's lock while the block runs (``exclusive``: one process only).

    The lock file then holds the pid and, on a second line, ``note`` as JSON (who holds it).

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
        if not _lock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH):
            holder = _first_line(os.pread(fd, 64, 0)) or "unknown"
            raise DatabaseInUseError(f"database {db_path} is in use by pid {holder}") from None
        # The pid is for the operator's message only: the lock itself is the kernel's.
        text = f"{os.getpid()}\n" + (json.dumps(dict(note), sort_keys=True) + "\n" if note else "")
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _lock(fd: int, kind: int) -> bool:
    """Take the lock without blocking; retry briefly while a ``lock_holder`` probe holds it."""
    deadline = time.monotonic() + _CONTENDED_S
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def _first_line(data: bytes) -> str:
    return data.decode(errors="replace").partition("\n")[0].strip()


@dataclass(frozen=True, slots=True)
class LockHolder:
    """The process holding a database's lock: its pid and the note it wrote (may be empty)."""

    pid: int | None
    note: Mapping[str, Any]


def lock_holder(db_path: Path) -> LockHolder | None:
    """Who holds the database's lock, or None when nobody does (no daemon runs on the file).

    Never creates the lock file. It probes by taking the lock exclusively for a moment (the
    kernel then tells held from free for both the exclusive and the shared holders).
    """
    try:
        fd = os.open(lock_path(db_path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # no lock file (never started here) or unreadable: nobody we can see
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(os.pread(fd, 4096, 0))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _holder(data: bytes) -> LockHolder:
    first, _, rest = data.decode(errors="replace").partition("\n")
    pid = int(first) if first.strip().isdigit() else None
    try:
        note = json.loads(rest.partition("\n")[0])
    except ValueError:  # a daemon of an older finagent wrote only its pid
        note = {}
    return LockHolder(pid, note if isinstance(note, dict) else {})


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

"""Storage faults at the SQLite edge: which ``sqlite3`` errors mean "cannot commit now".

SQLite reports a full disk, an I/O error, a lock held past ``busy_timeout`` and a read-only
file with their own result codes (``sqlite_errorcode`` on Python 3.11's exceptions; the
extended code, so the primary one is its low byte). These are infrastructure faults: the
same batch commits once the disk has room, the device answers or the other process lets
go. They become :class:`StorageUnavailableError`; every other error keeps its meaning.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from finagent.domain.errors import StorageUnavailableError

__all__ = ["FAULT_REASONS", "storage_fault"]

FAULT_REASONS: Final = {
    sqlite3.SQLITE_FULL: "disk full",
    sqlite3.SQLITE_IOERR: "I/O error",
    sqlite3.SQLITE_BUSY: "database locked",
    sqlite3.SQLITE_LOCKED: "database locked",
    sqlite3.SQLITE_READONLY: "database read-only",
}
"""Primary SQLite result code -> the fault's reason, as logs and metrics labels show it."""


def storage_fault(exc: BaseException) -> StorageUnavailableError | None:
    """The storage fault ``exc`` stands for, or None when it is not one.

    Args:
        exc: an error raised by a store call (any type; only ``sqlite3.Error`` can match).
    """
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    reason = FAULT_REASONS.get(code & 0xFF)
    return None if reason is None else StorageUnavailableError(reason, str(exc))

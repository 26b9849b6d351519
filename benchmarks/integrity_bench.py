"""How long the start-up ``quick_check`` takes on a large job database (docs/benchmarks.md).

Builds a database of ``size_mb`` with the daemon's schema (done jobs with ~600-byte payloads,
every index), then times :func:`finagent.adapters.sqlite.dbfile.check_integrity` cold (page
cache dropped where allowed, else as it comes) and warm, with no budget.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

from finagent.adapters.sqlite.dbfile import check_integrity
from finagent.adapters.sqlite.schema import connect_writer

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["build_database", "run_integrity_bench"]

_BATCH = 10_000


def build_database(path: Path, size_mb: int) -> int:
    """Fill ``path`` with done jobs until it holds ``size_mb`` MiB; returns the row count."""
    conn = connect_writer(path, synchronous="OFF")
    payload = json.dumps({"symbol": "AAPL", "note": "x" * 560})
    rows = 0
    try:
        while path.stat().st_size < size_mb * 1024 * 1024:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO jobs (id, type, key, payload, status, attempts, max_attempts,"
                " run_at, created_at, updated_at, finished_at)"
                " VALUES (?, 'scan', ?, ?, 'done', 1, 5, ?, ?, ?, ?)",
                (
                    (i, f"bench:{i}", payload, float(i), float(i), float(i), float(i))
                    for i in range(rows + 1, rows + _BATCH + 1)
                ),
            )
            conn.execute("COMMIT")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            rows += _BATCH
    finally:
        conn.close()
    return rows


def run_integrity_bench(db_dir: Path, size_mb: int) -> dict[str, float]:
    """Build the database, then time the check twice (the second with a warm page cache)."""
    path = db_dir / "big.db"
    started = time.perf_counter()
    rows = build_database(path, size_mb)
    built = time.perf_counter() - started
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # a cold start, as after a reboot
    finally:
        os.close(fd)
    cold = check_integrity(path, budget_s=3600.0)
    warm = check_integrity(path, budget_s=3600.0)
    return {
        "size_mb": round(path.stat().st_size / 1024 / 1024, 1),
        "rows": rows,
        "build_s": round(built, 1),
        "quick_check_cold_s": round(cold.seconds, 2),
        "quick_check_warm_s": round(warm.seconds, 2),
    }

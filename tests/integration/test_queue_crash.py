"""Real crash test: SIGKILL the queue workload at seeded random moments, restart, verify."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

N = 6000  # enough work after "ready" that 7 kills (<= 40 ms each) cannot finish it first
KILLS_PER_SEED = 7
ROOT = Path(__file__).resolve().parents[2]


def _spawn(db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.queue_crash_workload", str(db), str(N)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_with_kills(db: Path, seed: int, kills: int) -> int:
    rng = random.Random(seed)
    killed = 0
    while True:
        proc = _spawn(db)
        assert proc.stdout is not None
        if killed < kills:
            ready = proc.stdout.readline()  # enqueue done; the kill lands amid claim/commit work
            time.sleep(rng.uniform(0.0, 0.04) if ready else 0)
            alive = proc.poll() is None
            if alive:
                proc.send_signal(signal.SIGKILL)
            proc.communicate()  # reap it and close its pipes
            if alive:
                killed += 1
                continue
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        return killed


def _check(db: Path) -> None:
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = conn.execute("SELECT type, status, COUNT(*) FROM jobs GROUP BY type, status").fetchall()
    assert sorted(rows) == [("a", "done", N), ("b", "done", N)]
    # every input has exactly one output, every output's input is done
    per_parent = conn.execute(
        "SELECT COUNT(*) FROM jobs a JOIN jobs b ON b.parent_id = a.id WHERE a.type = 'a'"
        " GROUP BY a.id HAVING COUNT(*) != 1"
    ).fetchall()
    assert per_parent == []
    orphans = conn.execute(
        "SELECT COUNT(*) FROM jobs b LEFT JOIN jobs a ON a.id = b.parent_id"
        " WHERE b.type = 'b' AND (a.id IS NULL OR a.status != 'done')"
    ).fetchone()
    assert orphans == (0,)
    keys = conn.execute("SELECT COUNT(DISTINCT key), COUNT(*) FROM jobs").fetchone()
    assert keys == (2 * N, 2 * N)
    conn.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_random_moments_loses_and_doubles_nothing(tmp_path: Path, seed: int) -> None:
    db = tmp_path / "crash.db"
    killed = _run_with_kills(db, seed, kills=KILLS_PER_SEED)
    assert killed == KILLS_PER_SEED  # 3 seeds: 21 SIGKILLs in all
    _check(db)

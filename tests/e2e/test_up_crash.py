"""`finagent up` on the sim, SIGKILLed 3 times mid-session and restarted: nothing lost or doubled.

The daemon runs at 600x (08:55 -> 16:05 New York time is 43 s of wall time) on a 300-symbol
universe. The virtual timeline is anchored in the database, so each restarted daemon continues
it where the wall clock says it is: downtime passes as it would in reality. The kill moments are
seeded random instants of the session (09:31 to 14:30 New York time); the test waits for each
incarnation's readiness and for the daily report by following the JSON log, with deadlines.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from finagent.domain.orders import client_order_id
from tests.e2e.daemon import FINAGENT, env_for

pytestmark = pytest.mark.slow

SPEED = 600
DAY = "2026-11-25"
NY = ZoneInfo("America/New_York")
START = datetime(2026, 11, 25, 8, 55, tzinfo=NY)
FIRST_KILL = datetime(2026, 11, 25, 9, 31, tzinfo=NY)
LAST_KILL = datetime(2026, 11, 25, 14, 30, tzinfo=NY)
ARGS = ["up", "--speed", str(SPEED), "--start", START.isoformat()]
SEED = 20261125


class Daemon:
    """One incarnation of ``finagent up``, its JSON log going to a file we follow."""

    def __init__(self, tmp_path: Path, n: int) -> None:
        self.log = tmp_path / f"up-{n}.jsonl"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [*FINAGENT, *ARGS],
            cwd=tmp_path,
            env=env_for(tmp_path, FINAGENT_SIM__SYMBOLS="300"),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._offset = 0
        self.lines: list[dict[str, Any]] = []

    def wait_for(self, needle: str, timeout: float = 120.0) -> dict[str, Any]:
        """Follow the log until a message contains ``needle``; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.log.open() as f:
            while time.monotonic() < deadline:
                f.seek(self._offset)
                chunk = f.readline()
                if chunk.endswith("\n"):
                    self._offset = f.tell()
                    record: dict[str, Any] = json.loads(chunk)
                    self.lines.append(record)
                    if needle in record.get("message", ""):
                        return record
                    continue
                assert self.proc.poll() is None, f"daemon exited: {self.log.read_text()[-3000:]}"
                time.sleep(0.02)  # poll the log file; the deadline bounds the wait
        raise AssertionError(f"no {needle!r} in {self.log.read_text()[-3000:]}")

    def close(self) -> int:
        """Kill if still running, and return the exit code."""
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait(timeout=30)
        self._out.close()
        return code


def _read(path: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _messages(log: Path) -> list[str]:
    """Every complete JSON log line's message (a SIGKILL may cut the last line short)."""
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line)["message"])
        except (ValueError, KeyError):
            continue
    return out


def _kill_moments() -> list[datetime]:
    rng = random.Random(SEED)
    span = (LAST_KILL - FIRST_KILL).total_seconds()
    return sorted(FIRST_KILL + timedelta(seconds=rng.uniform(0, span)) for _ in range(3))


def test_sigkill_three_times_mid_session_loses_and_doubles_nothing(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    daemons = [Daemon(tmp_path, 0)]
    try:
        for n, moment in enumerate(_kill_moments(), start=1):
            daemons[-1].wait_for("supervision tree 'root' running")
            ((wall_start, sim_start, speed),) = _read(
                db, "SELECT wall_start, sim_start, speed FROM sim_anchor"
            )
            assert speed == SPEED and sim_start == START.timestamp()
            wall_kill = wall_start + (moment.timestamp() - sim_start) / speed
            time.sleep(max(0.0, wall_kill - time.time()))  # the seeded kill moment itself
            daemons[-1].proc.send_signal(signal.SIGKILL)
            assert daemons[-1].close() == -signal.SIGKILL
            assert _read(db, "SELECT count(*) FROM daily_reports") == [(0,)]
            daemons.append(Daemon(tmp_path, n))
        last = daemons[-1]
        last.wait_for("supervision tree 'root' running")
        reported = last.wait_for(f"daily report {DAY}")
        last.proc.send_signal(signal.SIGTERM)
        assert last.proc.wait(timeout=10) == 0
    finally:
        for d in daemons:
            d.close()
    # Read each restarted daemon's whole log: its recovery line may come after the readiness
    # line the test waited for (the writer recovers in its own task), and before the kill.
    recovered = [m for d in daemons[1:] for m in _messages(d.log) if m.startswith("recovered")]
    assert len(recovered) == 3

    jobs = _read(db, "SELECT type, key, status, payload FROM jobs WHERE key LIKE ?", f"%{DAY}%")
    assert {status for _, _, status, _ in jobs} <= {"done", "dead"}
    by_key = {key: (job_type, status, json.loads(p)) for job_type, key, status, p in jobs}
    candidates = [c["symbol"] for c in by_key[f"score:{DAY}"][2]["candidates"]]
    plans = by_key[f"risk:{DAY}"][2]["plans"]
    assert candidates and plans
    executes = {k: v for k, v in by_key.items() if v[0] == "execute"}
    assert sorted(k.rsplit(":", 1)[1] for k in executes) == sorted(p["symbol"] for p in plans)
    approved = {client_order_id(k) for k, (_, _, p) in executes.items() if p["approved"]}
    assert approved

    broker = db.with_name(db.stem + ".paper.db")
    orders = _read(broker, "SELECT client_order_id, symbol, status FROM paper_orders")
    ids = [o[0] for o in orders]
    assert len(ids) == len(set(ids)) and set(ids) == approved
    assert len({o[1] for o in orders}) == len(orders)  # one order per symbol and session
    assert [o for o in orders if o[2] in ("pending", "filled")] == []  # flat after the close

    assert " 0 duplicate(s)" in reported["message"]  # the one short report line
    ((stored,),) = _read(db, "SELECT report FROM daily_reports")  # the whole report
    report = json.loads(stored)
    assert report["duplicate_orders"] == 0
    report_ids = [o["client_order_id"] for o in report["orders"]]
    assert sorted(report_ids) == sorted(set(report_ids)) == sorted(approved)
    assert report["open_positions"] == []

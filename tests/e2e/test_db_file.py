"""The database file under a real ``finagent up``: its lock, corruption, deletion, a lost history.

Each test runs ``python -m finagent`` as a subprocess on files in ``tmp_path``; the broker's
side is read from the paper broker's own database, not from the daemon's word.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trio

from finagent.adapters.sim.market import SimMarket
from finagent.adapters.sim.paper_broker import open_paper_broker
from finagent.adapters.sqlite.state import read_control
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder
from tests.adapters.sqlite.test_dbfile import corrupt_pages
from tests.e2e.daemon import FINAGENT, env_for, start, wait_for_log
from tests.e2e.test_cli_errors import EXIT_USAGE, assert_one_line, run
from tests.fakes import FakeClock

pytestmark = pytest.mark.slow

EXIT_STOPPED = 4
NY = ZoneInfo("America/New_York")
START = datetime(2025, 1, 6, 10, 0, tzinfo=NY)  # a Monday, in the session
SIM = {"FINAGENT_SIM__START": START.isoformat(), "FINAGENT_SIM__SPEED": "1",
       "FINAGENT_SIM__SYMBOLS": "20"}  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, then the exit code and stderr."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_a_second_up_on_the_same_database_exits_2_naming_the_first_pid(tmp_path: Path) -> None:
    first = start(["up"], tmp_path)
    try:
        wait_for_log(first, "supervision tree 'root' running")
        second = run(["up"], tmp_path)
        db = tmp_path / "finagent.db"
        assert_one_line(second, EXIT_USAGE, f"database {db} is in use by pid {first.pid}")
        reset = run(["up", "--reset-timeline"], tmp_path)  # nor may it drop the timeline
        assert_one_line(reset, EXIT_USAGE, f"is in use by pid {first.pid}")
        assert first.poll() is None
    finally:
        code, _ = stop(first)
    assert code == 0


def test_a_killed_daemon_leaves_no_stale_lock(tmp_path: Path) -> None:
    first = start(["up"], tmp_path)
    wait_for_log(first, "supervision tree 'root' running")
    first.kill()
    first.communicate()
    again = start(["up"], tmp_path)
    try:
        wait_for_log(again, "supervision tree 'root' running")
    finally:
        code, _ = stop(again)
    assert code == 0


def test_corrupt_pages_are_one_line_exit_2_and_the_file_is_untouched(tmp_path: Path) -> None:
    first = start(["up"], tmp_path)
    wait_for_log(first, "supervision tree 'root' running")
    assert stop(first)[0] == 0
    db = tmp_path / "finagent.db"
    before = corrupt_pages(db)
    done = run(["up"], tmp_path)
    assert_one_line(done, EXIT_USAGE, f"{db}: database is corrupt")
    assert "restore it from a backup" in done.stderr
    assert db.read_bytes() == before


def seed_working_entry(paper_db: Path) -> str:
    """A working entry at the paper broker, far above the market (it never fills)."""

    async def seed() -> str:
        market = SimMarket(symbols=20, seed=42)
        symbol = (await market.universe(START.date()))[0]
        order = BracketOrder(
            "20250106-seeded", symbol, Side.LONG, 1, Decimal(5000), Decimal(4900), Decimal(5100)
        )
        async with open_paper_broker(paper_db, market, FakeClock(START)) as broker:
            await broker.submit(order)
        return order.client_order_id

    return trio.run(seed)


def paper_statuses(paper_db: Path) -> dict[str, str]:
    with sqlite3.connect(paper_db) as conn:
        return dict(conn.execute("SELECT client_order_id, status FROM paper_orders").fetchall())


def test_a_new_database_beside_the_paper_broker_halts_trading_loudly(tmp_path: Path) -> None:
    paper = tmp_path / "finagent.paper.db"
    cid = seed_working_entry(paper)
    proc = start(["up"], tmp_path, **SIM)
    try:
        record = wait_for_log(proc, "trading is halted until `finagent resume`")
        assert record["level"] == "ERROR"
        assert str(paper) in record["message"]
        wait_for_log(proc, "supervision tree 'root' running")
    finally:
        code, _ = stop(proc)
    assert code == 0
    assert read_control(tmp_path / "finagent.db").state == "halted"
    assert paper_statuses(paper) == {cid: "pending"}  # a plain stop leaves the broker as is
    resumed = subprocess.run(
        [*FINAGENT, "resume"], cwd=tmp_path, env=env_for(tmp_path), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert resumed.returncode == 3, resumed.stderr  # stored; no daemon runs to apply it
    assert read_control(tmp_path / "finagent.db").state == "active"


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_database_deleted_under_the_daemon_stops_it_safely_at_the_broker(
    tmp_path: Path, how: str
) -> None:
    paper = tmp_path / "finagent.paper.db"
    cid = seed_working_entry(paper)
    db = tmp_path / "finagent.db"
    proc = start(["up"], tmp_path, **SIM)
    try:
        wait_for_log(proc, "supervision tree 'root' running")
        orphan = db.stat()
        if how == "deleted":
            db.unlink()
        else:
            (tmp_path / "other.db").write_bytes(b"")
            (tmp_path / "other.db").replace(db)
        record = wait_for_log(proc, "stopping safely at the broker")
        assert record["level"] == "ERROR"
        assert f"database {db} was {how}" in record["message"]
        wait_for_log(proc, "stopped safely at the broker: canceled 1 working entry")
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_STOPPED, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"finagent: error: database {db} was {how}")
    assert "Traceback" not in err
    assert paper_statuses(paper) == {cid: "canceled"}
    assert orphan.st_ino != (db.stat().st_ino if db.exists() else None)

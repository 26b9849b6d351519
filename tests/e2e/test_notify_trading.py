"""A destination that refuses everything (HTTP 400) changes nothing in the trading.

The same simulated session runs twice with ``finagent up --speed 600`` from before the
pre-market scan until the daily report is stored (a bounded poll of the database): once with
no notifications, once with one JSON webhook destination that answers every message 400.
The orders the paper broker holds (its own table) must be the same; every event's job for the
refusing destination must be one dead letter naming it and HTTP 400, each with one WARNING.

Why subprocesses and not ``finagent simulate``: simulate runs on an autojump clock and sends
nothing by design (a send waits on a worker thread, and autojump would jump over it, trio
#456). ``up --speed N`` is the daemon as it runs for real, with the Apprise sender's threads.
Both runs run at the same time (the two daemons share nothing but the receiver) to keep the
test's wall time near one simulated day, about 45 s.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from finagent.adapters.sim.paper_broker import read_paper_book
from tests.e2e.daemon import FINAGENT, env_for
from tests.notify_receiver import open_receiver

pytestmark = pytest.mark.slow

DAY = "2026-11-25"
START = datetime(2026, 11, 25, 8, 55, tzinfo=ZoneInfo("America/New_York"))
ARGS = ["up", "--speed", "600", "--start", START.isoformat()]
CANARY = "CANARYtok3n0f1notify"


def _up(home: Path, **extra: str) -> subprocess.Popen[str]:
    home.mkdir()
    env = env_for(home, FINAGENT_SIM__SYMBOLS="300", **extra)
    with (home / "up.jsonl").open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([*FINAGENT, *ARGS], cwd=home, env=env, stdout=out,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    if not path.is_file():
        return []
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the daemon has not made its tables yet
        return []
    finally:
        conn.close()


def _until_reported(procs: list[subprocess.Popen[str]], homes: list[Path]) -> None:
    """Poll each database until its daily report is stored, then stop the daemon cleanly."""
    deadline = time.monotonic() + 240
    waiting = dict(zip(homes, procs, strict=True))
    while waiting and time.monotonic() < deadline:
        for home, proc in list(waiting.items()):
            assert proc.poll() is None, f"{home.name}: exited {proc.returncode}"
            sql = f"SELECT 1 FROM daily_reports WHERE session_date = '{DAY}'"
            if _rows(home / "finagent.db", sql):
                proc.send_signal(signal.SIGTERM)
                del waiting[home]
        time.sleep(0.2)  # polls the databases; the deadline bounds the wait
    assert not waiting, f"no daily report from {[h.name for h in waiting]}"
    for home, proc in zip(homes, procs, strict=True):
        assert proc.wait(timeout=60) == 0, (home / "up.jsonl").read_text()[-3000:]


def _orders(home: Path) -> list[tuple[str, str, int, str, str, str, str]]:
    book = read_paper_book(home / "finagent.paper.db")
    assert book is not None
    return sorted(
        (o.order.symbol, o.order.side.value, o.order.quantity, str(o.order.entry),
         str(o.order.stop_loss), str(o.order.take_profit), o.status.value)
        for o in book[0]
    )  # fmt: skip


def test_a_destination_that_always_refuses_leaves_dead_letters_and_the_same_orders(
    tmp_path: Path,
) -> None:
    quiet, noisy = tmp_path / "quiet", tmp_path / "noisy"
    with open_receiver(then=400) as refusing:
        procs = [_up(quiet)]
        url = refusing.url(f"hook/{CANARY}")
        procs.append(_up(noisy, FINAGENT_NOTIFY__DESTINATIONS__BROKEN__URL=url))
        try:
            _until_reported(procs, [quiet, noisy])
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=30)
        refused = len(refusing.seen)

    orders = _orders(quiet)
    assert orders, "the session traded nothing: the comparison would prove nothing"
    assert _orders(noisy) == orders

    jobs = _rows(noisy / "finagent.db", "SELECT type, key, status, attempts, last_error FROM jobs")
    dead = [j for j in jobs if j[2] == "dead"]
    assert dead and refused == len(dead)  # each message refused once: none retried
    for _, key, _, attempts, error in dead:
        assert key.startswith("notify:") and key.endswith(":broken"), key
        assert (attempts, error) == (1, "destination broken: refused (HTTP 400)")
    assert {j[2] for j in jobs if not j[1].endswith(":broken")} <= {"done"}  # trading's own
    log = [json.loads(line) for line in (noisy / "up.jsonl").read_text().splitlines()]
    warned = [r for r in log if r["level"] == "WARNING" and "left dead" in r["message"]]
    assert sorted(r["message"].split()[1] for r in warned) == sorted(j[1] for j in dead)
    assert CANARY not in (noisy / "up.jsonl").read_text()
    print(f"orders {len(orders)}, messages refused {refused}, dead letters {len(dead)}")

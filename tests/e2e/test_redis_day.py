"""A simulated day on the Redis queue across four real processes gives the single-process orders.

Two daemons (``finagent up`` with every stage, and one limited to scanner + reporter through
``run_daemon_blocking(services=...)``) and two ``finagent worker`` processes
(``scoring,planner`` and ``risk,execution``) share one real ``redis-server`` at 600x
(08:55 -> 16:05 New York time is ~43 s of wall time). The simulated timeline is anchored in
Redis, so every process follows the first one's clock. Checks: exactly one daemon holds the
scheduler's leader lock and fires each schedule entry, once; the workers did their stages'
work; the orders (client_order_id, symbol, side, qty) equal ``finagent simulate``'s for the
same date, seed and universe on SQLite in one process.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.app.database import read_report
from finagent.app.simulate import find_session, run_simulation
from finagent.settings import load_settings
from tests.e2e.daemon import LoggedProc as Proc
from tests.e2e.daemon import env_for
from tests.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, used by name below

pytestmark = pytest.mark.slow

SPEED = 600
DAY = "2026-11-25"
SYMBOLS = 300
START = datetime(2026, 11, 25, 8, 55, tzinfo=ZoneInfo("America/New_York"))
ENTRIES = {"premarket_scan", "time_stop", "flatten", "daily_report"}

# A daemon that runs only the scanner and the reporter; the workers run the other stages.
LIMITED_DAEMON = ["up", "--services", "scanner,reporter"]


def _worker(services: str) -> list[str]:
    """``finagent worker --services SERVICES``."""
    return ["worker", "--services", services]


def _wait_for(procs: list[Proc], needle: str, timeout: float) -> dict[str, Any]:
    """Poll the processes' logs (external processes) until one has ``needle``; bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            for record in p.records():
                if needle in record.get("message", ""):
                    return record
            assert p.proc.poll() is None, f"{p.name} exited: {p.log.read_text()[-3000:]}"
        time.sleep(0.1)  # polling external processes' log files; the deadline bounds the wait
    logs = "\n".join(p.log.read_text()[-1500:] for p in procs)
    raise AssertionError(f"no {needle!r} within {timeout}s:\n{logs}")


def _orders(report: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return sorted(
        (o["client_order_id"], o["symbol"], o["side"], o["qty"]) for o in report["orders"]
    )


def _reference(tmp_path: Path) -> list[tuple[str, str, str, int]]:
    """The same day on SQLite in one process (``finagent simulate``, virtual time)."""
    overrides = {
        "db_path": str(tmp_path / "reference" / "sim.db"),
        "sim": {"symbols": SYMBOLS},
        "metrics": {"enabled": False},
    }
    (tmp_path / "reference").mkdir()
    settings = load_settings(None, overrides, environ={}).settings
    day = date.fromisoformat(DAY)
    session = find_session(XcalsExchangeCalendar("XNYS"), day, day)
    return _orders(run_simulation(settings, session))


def test_two_daemons_two_workers_on_redis_match_the_single_process_day(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    env = env_for(
        shared,
        FINAGENT_QUEUE_BACKEND="redis",
        FINAGENT_REDIS__URL=redis_server.url,
        FINAGENT_SIM__SYMBOLS=str(SYMBOLS),
        FINAGENT_SIM__SPEED=str(SPEED),
        FINAGENT_SIM__START=START.isoformat(),
        FINAGENT_QUEUE__POLL_MAX_S="0.1",
    )
    procs = [
        Proc(shared, "up-a", LIMITED_DAEMON, env),
        Proc(shared, "up-b", LIMITED_DAEMON, env),
        Proc(shared, "w-score", _worker("scoring,planner"), env),
        Proc(shared, "w-exec", _worker("risk,execution"), env),
    ]
    try:
        reported = _wait_for(procs, f"daily report {DAY}", timeout=150)
        # before the stop: a stopping leader hands the lock over, the other may then take it
        messages = {p.name: p.messages() for p in procs}
    finally:
        codes = {p.name: p.stop(timeout=15) for p in procs}
    assert codes == dict.fromkeys(codes, 0)

    leaders = [n for n in ("up-a", "up-b") if "scheduler: leader" in " ".join(messages[n])]
    assert len(leaders) == 1, messages
    fired = {n: [m.split()[1] for m in messages[n] if m.startswith("schedule ")] for n in messages}
    assert sorted(fired[leaders[0]]) == sorted(ENTRIES)  # each entry fired once, by the leader
    assert [n for n, f in fired.items() if f] == leaders
    for worker in ("w-score", "w-exec"):
        assert not any("scheduler" in m for m in messages[worker])

    pids = {p.name: p.proc.pid for p in procs}
    consumers = _consumers(redis_server.url)
    # every job type went only to the process running its stage: the workers did their work
    assert consumers["scan"] <= {pids["up-a"], pids["up-b"]} and consumers["scan"]
    assert consumers["score"] == consumers["plan"] == {pids["w-score"]}
    assert consumers["risk"] == consumers["execute"] == {pids["w-exec"]}
    assert consumers["flatten"] == {pids["w-exec"]}

    assert reported["level"] == "INFO"  # one short line; the whole report is in the database
    stored = read_report(shared / "finagent.db", DAY)
    assert stored is not None and stored["duplicate_orders"] == 0
    got = _orders(stored)
    assert got  # the day traded
    assert got == _reference(tmp_path)


def _consumers(url: str) -> dict[str, set[int]]:
    """Job type -> pids of the consumers (lease owners ``host:pid/stage``) of its stream."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        out: dict[str, set[int]] = {}
        for job_type in ("scan", "score", "plan", "risk", "execute", "flatten", "report"):
            stream = f"{{finagent}}:s:{job_type}"
            found = client.xinfo_consumers(stream, "workers") if client.exists(stream) else []
            out[job_type] = {int(c["name"].split("/")[0].rsplit(":", 1)[1]) for c in found}
        assert client.get("{finagent}:leader:scheduler") is None  # released at the stop
        counts = client.hgetall("{finagent}:counts")
        for scheduled in ("scan", "report"):  # time_stop/flatten jobs also come per order
            assert counts[f"{scheduled}|done"] == "1", counts  # enqueued once, done once
        return out
    finally:
        client.close()

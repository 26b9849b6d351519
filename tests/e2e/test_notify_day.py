"""A simulated day with notifications to a real webhook on 127.0.0.1, SIGKILLed mid-day.

``finagent up --speed 600`` runs 08:55 -> 16:05 New York time (43 s of wall time) on a
300-symbol universe, with one generic JSON webhook destination pointed at the test's receiver.
The daemon is SIGKILLed while its first fill message is in flight (the receiver hangs up on
it unanswered, so the daemon cannot have recorded it as sent), then restarted on the same
database. The receiver must get every message once: the first start, each submission, the
fill that was cut off (retried after the restart), the exits, the daily report, the second
start and the clean stop, in order.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.daemon import FINAGENT, env_for
from tests.notify_receiver import Receiver, open_receiver

pytestmark = pytest.mark.slow

DAY = "2026-11-25"
START = datetime(2026, 11, 25, 8, 55, tzinfo=ZoneInfo("America/New_York"))
ARGS = ["up", "--speed", "600", "--start", START.isoformat()]


def _up(tmp_path: Path, n: int, receiver: Receiver) -> subprocess.Popen[str]:
    out = (tmp_path / f"up-{n}.jsonl").open("w")
    env = env_for(
        tmp_path,
        FINAGENT_SIM__SYMBOLS="300",
        FINAGENT_NOTIFY__DESTINATIONS__HOOK__URL=receiver.url(),
        FINAGENT_NOTIFY__BURST="1000",  # every message on its own: the test counts them
    )
    with out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([*FINAGENT, *ARGS], cwd=tmp_path, env=env, stdout=out,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _wait(receiver: Receiver, what: str, proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(what in t for t in receiver.titles()):
            return
        assert proc.poll() is None, f"daemon exited with {proc.returncode}"
        time.sleep(0.05)  # polls the receiver's record; the deadline bounds the wait
    raise AssertionError(f"no {what!r} message in {receiver.titles()}")


def _post_alert_twice(log: Path) -> None:
    """POST one Alertmanager payload twice to the daemon's metrics port (a resend)."""
    deadline = time.monotonic() + 120
    port = None
    while port is None and time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "serving /metrics" in line:
                port = int(json.loads(line)["message"].rsplit(":", 1)[1])
        time.sleep(0.05)  # polls the log file; the deadline bounds the wait
    assert port is not None, log.read_text()[-3000:]
    alert = {"status": "firing", "labels": {"alertname": "FinagentTest", "severity": "warning"},
             "annotations": {"summary": "a test alert"}, "startsAt": "2026-11-25T15:00:00Z",
             "fingerprint": "e2e0001"}  # fmt: skip
    for _ in range(2):
        payload = {"version": "4", "status": "firing", "alerts": [alert]}
        answer = httpx.post(f"http://127.0.0.1:{port}/alertmanager", json=payload)
        assert answer.status_code == 200, answer.text


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_day_of_messages_arrives_in_order_exactly_once_across_a_sigkill(
    tmp_path: Path,
) -> None:
    procs: list[subprocess.Popen[str]] = []
    with open_receiver() as receiver:
        cut: list[dict[str, Any]] = []

        def kill_on_first_fill(body: dict[str, Any]) -> bool:
            if cut or " filled at " not in body["title"]:
                return True
            procs[0].send_signal(signal.SIGKILL)  # the message is in flight: unanswered
            procs[0].wait(timeout=30)
            cut.append(body)
            return False

        receiver.before = kill_on_first_fill
        procs.append(_up(tmp_path, 0, receiver))
        try:
            deadline = time.monotonic() + 120
            while not cut and time.monotonic() < deadline:
                time.sleep(0.05)  # until the receiver kills the first daemon
            assert cut and procs[0].returncode == -signal.SIGKILL, receiver.titles()
            before_kill = len(receiver.delivered)
            procs.append(_up(tmp_path, 1, receiver))
            _post_alert_twice(tmp_path / "up-1.jsonl")
            _wait(receiver, f"daily report {DAY}", procs[1], 120)
            procs[1].send_signal(signal.SIGTERM)
            assert procs[1].wait(timeout=30) == 0
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=30)
        titles = receiver.titles()
        bodies = [(d["title"], d["message"]) for d in receiver.delivered]

    # Exactly once: no message delivered twice, and the one cut off by the kill arrived once.
    starts = [i for i, t in enumerate(titles) if t == "finagent started"]
    assert len(starts) == 2 and starts[0] == 0 and before_kill <= starts[1]
    assert [b for b, n in Counter(bodies).items() if n > 1 and b[0] != "finagent started"] == []
    assert titles.count(cut[0]["title"]) == 1 and titles.index(cut[0]["title"]) >= before_kill
    assert titles.count("[firing] FinagentTest: a test alert") == 1  # posted twice, sent once
    assert titles[-1] == "finagent stopping cleanly"
    assert titles[-2] == f"daily report {DAY}"

    # Each order's messages in order: submitted, filled, exited; one order per symbol.
    broker = tmp_path / "finagent.paper.db"
    orders = _rows(broker, "SELECT symbol, filled_price, exit_price FROM paper_orders")
    submitted = [t.split(":")[0] for t in titles if t.endswith(" submitted")]
    assert sorted(submitted) == sorted(o[0] for o in orders)
    filled = [t.split(":")[0] for t in titles if " filled at " in t]
    exited = [t.split(":")[0] for t in titles if ": exited " in t]
    assert filled and exited
    assert set(filled) <= {o[0] for o in orders if o[1] is not None}
    assert set(exited) <= set(filled) and set(exited) <= {o[0] for o in orders if o[2]}
    for symbol in exited:
        first = {k: next(i for i, t in enumerate(titles) if t.startswith(f"{symbol}: ") and k in t)
                 for k in (" submitted", " filled at ", ": exited ")}  # fmt: skip
        assert first[" submitted"] < first[" filled at "] < first[": exited "]
    missed = {o[0] for o in orders if o[1] is not None} - set(filled)
    print(f"orders {len(orders)}, fills noticed {len(filled)}, missed {sorted(missed)}")

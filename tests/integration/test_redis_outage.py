"""Redis killed and restarted under a running daemon and worker (real processes, issue #15).

``finagent up`` (every stage, the scheduler) and ``finagent worker --services scoring,planner``
share one real ``redis-server`` (AOF, ``appendfsync always``) on a 600x simulated day. Once the
pre-market scan fired, Redis is SIGKILLed and restarted on the same port: with its data
directory (data back) or with it wiped (data lost). Checks: no process dies or crashes an
actor, no job goes dead, the scheduler's leader lock is held again, ``/readyz`` answers 503
naming ``redis`` during the outage and 200 after, each process logs the outage in one line
(and its end in one); with the data wiped each process says once that Redis came back without
finagent's data and the daily report calls itself incomplete instead of reporting an empty day.
"""

from __future__ import annotations

import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.daemon import LoggedProc, env_for
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

DAY = "2026-11-25"
LOCK = "{finagent}:leader:scheduler"


class Proc(LoggedProc):
    """A ``LoggedProc`` that can also ask its ``/readyz``."""

    def readyz(self) -> tuple[int, str]:
        """GET /readyz on the port the process logged."""
        (line,) = self.lines("serving /metrics")
        url = re.search(r"http://\S+", line["message"]).group(0) + "/readyz"  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def _until(procs: list[Proc], ok: Any, what: str, timeout: float = 60.0) -> Any:
    """Poll external processes (bounded) until ``ok()`` is truthy; every process stays alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            p.alive()
        if found := ok():
            return found
        time.sleep(0.1)  # polling real processes and a real endpoint; the deadline bounds it
    tails = "\n".join(p.log.read_text()[-2000:] for p in procs)
    raise AssertionError(f"not {what} within {timeout} s:\n{tails}")


@pytest.mark.parametrize("wiped", [False, True], ids=["data-back", "data-wiped"])
def test_redis_killed_and_restarted_under_a_daemon_and_a_worker(
    tmp_path: Path, wiped: bool
) -> None:
    data = tmp_path / "redis"
    data.mkdir()
    server = RedisServer(data, fsync="always")
    server.start()
    env = env_for(
        tmp_path, FINAGENT_QUEUE_BACKEND="redis", FINAGENT_REDIS__URL=server.url,
        FINAGENT_SIM__SYMBOLS="300", FINAGENT_SIM__SPEED="600",
        FINAGENT_SIM__START="2026-11-25T08:55:00-05:00", FINAGENT_QUEUE__POLL_MAX_S="0.1",
    )  # fmt: skip
    up = Proc(tmp_path, "up", ["up"], env)
    worker_env = {**env, "FINAGENT_DB_PATH": str(tmp_path / "worker.db")}
    worker = Proc(tmp_path, "worker", ["worker", "--services", "scoring,planner"], worker_env)
    procs = [up, worker]
    try:
        _until(procs, lambda: all(p.lines("serving /metrics") for p in procs), "serving", 120)
        _until(procs, lambda: all(p.readyz()[0] == 200 for p in procs), "ready")
        _until(procs, lambda: up.lines("schedule premarket_scan fired"), "scanned")

        server.kill()
        if wiped:
            for path in data.iterdir():
                if path.name != "redis.log":
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        for p in procs:  # not ready while Redis is away, and saying why
            status, body = _until(procs, lambda p=p: _failing(p), f"{p.name} not ready")
            assert status == 503 and "redis" in body
        server.start()  # same port, same directory
        _until(procs, lambda: all(p.readyz()[0] == 200 for p in procs), "ready again")
        _until(procs, lambda: _lock_held(server.url), "leader lock held again", 30)

        report = _until(procs, lambda: up.lines(f"daily report {DAY}"), "reported", 120)[0]
        for p in procs:
            p.alive()
            assert len(p.lines("redis unavailable (")) == 1, p.name  # one line per outage
            assert len(p.lines("redis is back after")) == 1, p.name
            lost = [
                r
                for r in p.lines("without finagent's data")
                if r["logger"].endswith("redis_backend")
            ]
            assert len(lost) == (1 if wiped else 0), p.name
            assert not [r for r in p.records() if r.get("event") in ("exited", "gave_up")
                        and r.get("reason") != "normal"], p.name  # fmt: skip
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            counts = client.hgetall("{finagent}:counts")
            assert not {k: v for k, v in counts.items() if k.endswith("|dead") and v != "0"}
            assert client.get(LOCK) is not None
        finally:
            client.close()
        if wiped:  # the trail is gone: said so, never an empty day passed off as a quiet one
            assert report["level"] == "ERROR" and "is incomplete" in report["message"]
            assert up.lines("leader lock {finagent}:leader:scheduler taken")[1:]  # re-acquired
        else:
            assert report["level"] == "INFO" and " 0 order(s)" not in report["message"]
    finally:
        codes = {p.name: p.stop(timeout=20) for p in procs}
        server.stop()
    assert codes == {"up": 0, "worker": 0}


def _failing(p: Proc) -> tuple[int, str] | None:
    try:
        status, body = p.readyz()
    except OSError:
        return None
    return (status, body) if status != 200 else None


def _lock_held(url: str) -> bool:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return client.get(LOCK) is not None
    except redis.RedisError:
        return False
    finally:
        client.close()

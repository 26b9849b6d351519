"""A real Prometheus scrapes a real `finagent up` on the simulated market (issue: observability)."""

from __future__ import annotations

import re
import signal

import httpx
import pytest
import trio

from tests.e2e.daemon import start, wait_for_log
from tests.monitoring.prometheus_helpers import running_prometheus

pytestmark = pytest.mark.slow

#: Every family the issue names; a scrape of the running daemon must show each one.
FAMILIES = (
    "finagent_job_latency_seconds",
    "finagent_jobs_enqueued_total",
    "finagent_jobs_completed_total",
    "finagent_jobs_failed_total",
    "finagent_jobs_dead_total",
    "finagent_queue_depth",
    "finagent_queue_oldest_pending_seconds",
    "finagent_api_requests_total",
    "finagent_api_retries_total",
    "finagent_scan_duration_seconds",
    "finagent_scan_candidates",
    "finagent_actor_restarts_total",
    "finagent_actor_up",
    "finagent_event_loop_lag_seconds",
    "finagent_sqlite_commit_batch_size",
    "finagent_sqlite_commit_seconds",
    "finagent_orders_total",
    "finagent_realized_pnl",
    "finagent_trading_state",
    "finagent_build_info",
)


def _total(result: list[dict]) -> float:
    return sum(float(r["value"][1]) for r in result)


async def test_prometheus_sees_the_daemon_work(tmp_path):
    # 08:55 ET on a normal session at 600x: the 09:00 scan runs about half a second in.
    proc = start(
        ["up", "--speed", "600", "--start", "2026-11-25T08:55:00-05:00"],
        tmp_path,
        FINAGENT_SIM__SYMBOLS="300",
    )
    try:
        serving = await trio.to_thread.run_sync(wait_for_log, proc, "serving /metrics")
        port = int(re.search(r":(\d+)$", serving["message"]).group(1))
        target = f"127.0.0.1:{port}"
        with trio.fail_after(90):
            async with running_prometheus(tmp_path, target) as prom:
                await prom.wait_for(
                    lambda: prom.query('up{job="finagent"}'), lambda r: _total(r) == 1
                )
                done = await prom.wait_for(
                    lambda: prom.query("finagent_jobs_completed_total"),
                    lambda r: _total(r) > 0,
                )
                assert {r["metric"]["type"] for r in done} >= {"scan"}
                info = await prom.query("finagent_build_info")
                assert len(info) == 1
                lag = await prom.query("finagent_event_loop_lag_seconds")
                assert len(lag) == 1
                assert 0 <= _total(lag) < 5
        async with httpx.AsyncClient() as client:
            body = (await client.get(f"http://{target}/metrics")).text
            ready = await client.get(f"http://{target}/readyz")
        missing = [f for f in FAMILIES if f"# TYPE {f}" not in body and f"# HELP {f}" not in body]
        assert missing == []
        assert ready.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert await trio.to_thread.run_sync(lambda: proc.wait(timeout=10)) == 0
    finally:
        proc.kill()
        proc.communicate()

"""``python -m benchmarks soak``: RSS of one daemon process across many simulated sessions.

The real daemon (``app.run_daemon``, every actor, SQLite inline, the sim feed and the paper
broker) runs in this process under an autojumping ``MockClock`` from before the first
session's pre-market scan until the daily report of the last one, nights and weekends
included, as ``finagent up`` would at any speed. After each session's report the process's
resident set size is read from ``/proc/self/statm`` (after a ``gc.collect()``, so the figure
is what the daemon holds, not garbage waiting for a collection).

The figure that counts is the growth from session 5 on: the first sessions fill bounded
caches (the sim's universe, the allocator's pools) and only then should RSS stay flat.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import trio
import trio.testing

from finagent.adapters.clocks import VirtualClock
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.app import DaemonOptions, run_daemon
from finagent.app.parts import DaemonProbe
from finagent.settings import load_settings

__all__ = ["FIRST_DAY", "format_soak_bench", "rss_mb", "run_soak_bench"]

FIRST_DAY = date(2025, 1, 6)
_LEAD = timedelta(minutes=35)  # before the pre-market scan (open - 30m)
_TAIL = timedelta(minutes=10)  # the report runs at close + 5m
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """This process's resident set size in MB (MiB), from ``/proc/self/statm``."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


def run_soak_bench(
    *, sessions: int = 20, symbols: int = 1000, seed: int = 42, speed: float = 1.0
) -> dict[str, Any]:
    """One daemon over ``sessions`` consecutive XNYS sessions; RSS (MB) after each report.

    ``speed``: virtual seconds per Trio second, as ``finagent up --speed``; the daemon's
    one-second housekeeping beats then tick ``speed`` times less often through the nights.
    """
    calendar = XcalsExchangeCalendar("XNYS")
    days = calendar.sessions(FIRST_DAY, FIRST_DAY + timedelta(days=2 * sessions + 14))[:sessions]
    with tempfile.TemporaryDirectory(prefix="finagent-soak-") as tmp:
        settings = load_settings(
            None,
            {
                "db_path": str(Path(tmp) / "soak.db"),
                "metrics": {"enabled": False},
                "sim": {"symbols": symbols, "seed": seed},
            },
            environ={},
        ).settings
        wall = time.perf_counter()
        clock = trio.testing.MockClock(autojump_threshold=0)
        rows = trio.run(_soak, settings, days, speed, clock=clock)
    rss = [r["rss_mb"] for r in rows]
    return {
        "sessions": sessions,
        "symbols": symbols,
        "speed": speed,
        "per_session": rows,
        "rss_first_mb": rss[0],
        "rss_5_mb": rss[min(4, len(rss) - 1)],
        "rss_last_mb": rss[-1],
        "growth_from_5_mb": round(max(rss[4:] or rss) - rss[min(4, len(rss) - 1)], 2),
        "wall_s": round(time.perf_counter() - wall, 1),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


async def _soak(settings: Any, days: list[Any], speed: float) -> list[dict[str, Any]]:
    vclock = VirtualClock(days[0].open - _LEAD, speed=speed)
    probe = DaemonProbe()
    stop = trio.Event()
    options = DaemonOptions(clock=vclock, inline=True, probe=probe)
    rows: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: run_daemon(settings, options, stop=stop, task_status=task_status)
        )
        parts = probe.parts
        assert parts is not None
        for n, session in enumerate(days, 1):
            await vclock.sleep_until(session.close + _TAIL)
            report = await parts.records.report(session.date.isoformat())
            gc.collect()
            rows.append(
                {
                    "session": n,
                    "date": session.date.isoformat(),
                    "orders": len(report["orders"]) if report else None,
                    "rss_mb": round(rss_mb(), 2),
                }
            )
        stop.set()
    return rows


def format_soak_bench(result: dict[str, Any]) -> str:
    """The soak's RSS per session and the growth from session 5, as text."""
    lines = [f"soak: one daemon, {result['sessions']} sessions, {result['symbols']:,} symbols"]
    for row in result["per_session"]:
        lines.append(
            f"  session {row['session']:>3} {row['date']}  orders {row['orders']}"
            f"  RSS {row['rss_mb']:7.2f} MB"
        )
    lines.append(
        f"RSS {result['rss_first_mb']:.1f} -> {result['rss_5_mb']:.1f} (session 5) -> "
        f"{result['rss_last_mb']:.1f} MB; growth from session 5: {result['growth_from_5_mb']} MB"
        f"  (wall {result['wall_s']} s, load {result['load_avg']})"
    )
    return "\n".join(lines)

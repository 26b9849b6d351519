"""Soak: one daemon process over 20 simulated sessions keeps its memory flat.

The workload (``python -m benchmarks soak``) runs in a subprocess, so the RSS it reports is the
daemon's alone, not pytest's. The first sessions fill bounded caches; from session 5 on, RSS may
not grow by 3 MB (it grew ~0.35 MB a session while the sim kept every session's bar streams).
1,000 symbols is the smallest feed on which that growth showed (~10 plans a session). At
``--speed 60`` (as ``finagent up --speed 60``) the daemon's one-second beats tick 60 times less
often through the nights, so the 20 sessions take ~15 s instead of ~9 min; what leaked per
session leaks the same at any speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).parents[2]


def test_rss_stays_flat_from_session_5_over_20_sessions() -> None:
    # Without coverage's subprocess hook: its tracer would add its own time and memory.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "soak", "--sessions", "20", "--symbols", "1000",
         "--speed", "60", "--json"],
        capture_output=True, text=True, timeout=880, check=False, cwd=ROOT, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    rows = result["per_session"]
    assert len(rows) == 20 and sum(r["orders"] for r in rows) >= 20  # the sessions traded
    assert result["growth_from_5_mb"] < 3.0, [r["rss_mb"] for r in rows]

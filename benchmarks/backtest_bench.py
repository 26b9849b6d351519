"""``python -m benchmarks backtest``: a year of recorded sessions through ``finagent backtest``.

Each run is the real command in a subprocess (``python -m finagent backtest --json``) over a
store made by ``finagent data export-sim`` (5,000 symbols, ~50 of them with minute bars a
day, the issue's shape). While it runs, the process tree is sampled every 0.1 s from
``/proc``: the sum of its processes' resident sets (RSS, what ``ps`` shows) and of their
proportional sets (PSS: shared pages split between the processes that map them, so a page
two workers share counts once). Wall time is the subprocess's, imports included.

The peer, in the same run: the first ``--peer-sessions`` sessions replayed in this process
with the daemon's live beat (``BEAT_S = 1``: every watch loop each virtual second, as
before the backtest widened it) and with the backtest's, so the gain is measured, not
remembered.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["format_backtest_bench", "run_backtest_bench", "tree_memory_mb"]

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:  # gone meanwhile
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_memory_mb(root: int) -> tuple[float, float]:
    """(RSS, PSS) summed over ``root`` and its descendants, in MiB."""
    tree, todo, rss, pss = _children(), [root], 0, 0
    while todo:
        pid = todo.pop()
        todo += tree.get(pid, [])
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
                for line in f:
                    key, value = line.split()[:2]
                    if key == "Rss:":
                        rss += int(value)
                    elif key == "Pss:":
                        pss += int(value)
        except (OSError, ValueError):  # exited meanwhile
            continue
    return rss / 1024, pss / 1024


def _one_run(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    peak = [0.0, 0.0]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            rss, pss = tree_memory_mb(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"backtest failed ({proc.returncode}): {err.decode()[-500:]}")
    return {
        "wall_s": round(wall, 2),
        "rss_mb": round(peak[0], 1),
        "pss_mb": round(peak[1], 1),
        "json_md5": hashlib.md5(out).hexdigest(),
        "sessions": json.loads(out)["sessions"],
    }


def _export(store: Path, start: date, end: date, symbols: int, seed: int) -> float:
    from finagent.adapters.exchange_calendar import XcalsExchangeCalendar

    days = [s.date.isoformat() for s in XcalsExchangeCalendar("XNYS").sessions(start, end)]
    argv = [sys.executable, "-m", "finagent", "data", "export-sim", "--path", str(store),
            "--symbols", str(symbols), "--seed", str(seed)]  # fmt: skip
    for day in days:
        argv += ["--date", day]
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 1)


def _peer(store: Path, start: date, end: date, sessions: int) -> dict[str, float]:
    """Per-session seconds of the first ``sessions`` with the live beat and the backtest's."""
    import finagent.app.backtest as bt
    from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
    from finagent.settings import load_settings

    days = XcalsExchangeCalendar("XNYS").sessions(start, end)[:sessions]
    settings = load_settings(environ={}, cli_overrides={"replay": {"path": str(store)}}).settings
    chosen, out = bt.BEAT_S, {}
    try:
        for label, beat in (("beat_1s", 1.0), (f"beat_{chosen:g}s", chosen)):
            bt.BEAT_S = beat
            started = time.perf_counter()
            bt.run_backtest(settings, days[0].date, days[-1].date)
            out[label] = round((time.perf_counter() - started) / len(days), 3)
    finally:
        bt.BEAT_S = chosen
    return out


def run_backtest_bench(
    *,
    store: Path,
    start: date,
    end: date,
    jobs: list[int],
    runs: int = 3,
    symbols: int = 5000,
    seed: int = 42,
    peer_sessions: int = 5,
) -> dict[str, Any]:
    """``runs`` backtests per ``jobs`` value (medians), and the beat peer."""
    made = None
    if not store.exists():
        made = _export(store, start, end, symbols, seed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINAGENT_")}
    rows = []
    with tempfile.TemporaryDirectory(prefix="finagent-bt-bench-") as tmp:
        env["TMPDIR"] = tmp
        for n in jobs:
            argv = [
                sys.executable, "-m", "finagent", "backtest", "--from", start.isoformat(),
                "--to", end.isoformat(), "--path", str(store), "--json", "--jobs", str(n),
            ]  # fmt: skip
            samples = []
            for _ in range(runs):
                load = os.getloadavg()[0]
                samples.append({**_one_run(argv, env), "load_1m": round(load, 2)})
            rows.append({
                "jobs": n,
                "wall_s": statistics.median(s["wall_s"] for s in samples),
                "rss_mb": statistics.median(s["rss_mb"] for s in samples),
                "pss_mb": statistics.median(s["pss_mb"] for s in samples),
                "sessions": samples[0]["sessions"],
                "identical_json": len({s["json_md5"] for s in samples}) == 1,
                "runs": samples,
            })  # fmt: skip
    md5s = {r["runs"][0]["json_md5"] for r in rows}
    return {
        "store_mb": round(store.stat().st_size / 2**20, 1),
        "export_s": made,
        "rows": rows,
        "same_json_for_every_jobs": len(md5s) == 1,
        "peer_per_session_s": _peer(store, start, end, peer_sessions),
        "cpus": os.cpu_count(),
    }


def format_backtest_bench(result: dict[str, Any]) -> str:
    """One line per ``--jobs``, then the peer."""
    lines = [f"store {result['store_mb']} MB (export {result['export_s'] or 'reused'} s), "
             f"{result['cpus']} CPUs"]  # fmt: skip
    for r in result["rows"]:
        loads = ", ".join(str(s["load_1m"]) for s in r["runs"])
        lines.append(
            f"--jobs {r['jobs']}: {r['sessions']} sessions  wall {r['wall_s']} s "
            f"({r['wall_s'] / max(r['sessions'], 1):.3f} s/session)  RSS {r['rss_mb']} MB  "
            f"PSS {r['pss_mb']} MB  (medians of {len(r['runs'])}; load {loads})"
        )
    lines.append(f"same --json for every --jobs and run: {result['same_json_for_every_jobs']}")
    lines.append(f"per session, peer: {result['peer_per_session_s']}")
    return "\n".join(lines)

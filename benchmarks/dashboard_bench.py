"""Dashboard page render time over a year of history (``python -m benchmarks dashboard``).

The database: ``finagent simulate --db`` runs a few real sessions; each of the 252 sessions of
2024 then gets a copy of one of them (its daily report, its job trail, its paper orders and
fills, with the date rewritten), and done filler jobs bring the queue to ``jobs`` rows. Every
page is then rendered by Streamlit's ``AppTest`` (the script run that serves a browser's
request, from the first line to the last element) ``runs`` times; the figures are seconds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["build_year", "format_dashboard_bench", "run_dashboard_bench"]

_SOURCE_DAYS = ("2025-01-06", "2025-01-07", "2025-01-08")


def _simulate(db: Path, symbols: int) -> None:
    for day in _SOURCE_DAYS:
        subprocess.run(
            [sys.executable, "-m", "finagent", "simulate", "--db", str(db), "--date", day,
             "--symbols", str(symbols), "--json"],
            check=True, capture_output=True, env={**os.environ, "FINAGENT_DB_PATH": str(db)},
        )  # fmt: skip


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def build_year(db: Path, *, jobs: int = 100_000, symbols: int = 300) -> dict[str, int]:
    """Fill ``db`` (and its paper book) with the 252 sessions of 2024; the row counts."""
    from finagent.app.exchange import exchange_calendar

    _simulate(db, symbols)
    year = exchange_calendar("XNYS").sessions(date(2024, 1, 1), date(2024, 12, 31))
    sessions = [s.date.isoformat() for s in year]
    main = sqlite3.connect(db)
    book = sqlite3.connect(db.with_name(f"{db.stem}.paper.db"))
    job_cols = [c for c in _columns(main, "jobs") if c != "id"]
    order_cols = _columns(book, "paper_orders")
    fill_cols = [c for c in _columns(book, "paper_fills") if c != "id"]

    def swap(cols: list[str], old: str, new: str) -> str:
        return ", ".join(f"replace({c}, '{old}', '{new}')" if c in (
            "key", "payload", "client_order_id", "submitted_at", "filled_at", "closed_at",
            "updated_at", "at") and c != "updated_at" else c for c in cols)  # fmt: skip

    with main, book:
        for i, new in enumerate(sessions):
            old = _SOURCE_DAYS[i % len(_SOURCE_DAYS)]
            report = main.execute(
                "SELECT report FROM daily_reports WHERE session_date = ?", (old,)
            ).fetchone()[0]
            main.execute("INSERT INTO daily_reports VALUES (?, ?)", (new, report.replace(old, new)))
            main.execute(
                f"INSERT INTO jobs ({', '.join(job_cols)}) SELECT {swap(job_cols, old, new)}"
                " FROM jobs WHERE key LIKE ?", (f"%:{old}%",),
            )  # fmt: skip
            for copy in ("", "-b"):  # two books a day: ~1,500 orders over the year

                def tag(cols: str, copy: str = copy, old: str = old, new: str = new) -> str:
                    return cols.replace(
                        f"replace(client_order_id, '{old}', '{new}')",
                        f"replace(client_order_id, '{old}', '{new}') || '{copy}'",
                    )

                cols = tag(swap(order_cols, old, new)).replace(
                    "broker_id", f"broker_id || '-{new}{copy}'"
                )
                book.execute(
                    f"INSERT INTO paper_orders ({', '.join(order_cols)}) SELECT {cols}"
                    " FROM paper_orders WHERE submitted_at LIKE ?", (f"{old}%",),
                )  # fmt: skip
                book.execute(
                    f"INSERT INTO paper_fills ({', '.join(fill_cols)}) SELECT"
                    f" {tag(swap(fill_cols, old, new))} FROM paper_fills WHERE at LIKE ?",
                    (f"{old}%",),
                )  # fmt: skip
        have = main.execute("SELECT count(*) FROM jobs").fetchone()[0]
        filler = json.dumps({"filler": True})
        main.executemany(
            "INSERT INTO jobs (type, key, payload, status, attempts, max_attempts, run_at,"
            " created_at, updated_at, finished_at) VALUES ('scan', ?, ?, 'done', 1, 5, 0, 0, 0, 0)",
            ((f"bench:{n}", filler) for n in range(max(0, jobs - have))),
        )
    counts = {
        "reports": main.execute("SELECT count(*) FROM daily_reports").fetchone()[0],
        "jobs": main.execute("SELECT count(*) FROM jobs").fetchone()[0],
        "orders": book.execute("SELECT count(*) FROM paper_orders").fetchone()[0],
        "fills": book.execute("SELECT count(*) FROM paper_fills").fetchone()[0],
    }
    main.close()
    book.close()
    return counts


def run_dashboard_bench(db: Path, *, runs: int = 5) -> dict[str, Any]:
    """Render each page ``runs`` times through AppTest; seconds per render (server side)."""
    from streamlit.testing.v1 import AppTest

    from finagent.dashboard.pages import PAGES
    from finagent.dashboard.server import SCRIPT

    os.environ["FINAGENT_DB_PATH"] = str(db)
    os.environ["FINAGENT_METRICS__PORT"] = "9"  # discard: the Health page's "not reachable"
    pages: dict[str, dict[str, float]] = {}
    for page in PAGES:
        at = AppTest.from_file(str(SCRIPT), default_timeout=120)
        at.run()  # the first load (imports, calendars) is measured apart
        times: list[float] = []
        first = 0.0
        for n in range(runs + 1):
            started = time.perf_counter()
            if n == 0:
                at.radio(key="page").set_value(page).run()
            else:
                at.run()
            elapsed = time.perf_counter() - started
            assert not at.exception, [e.value for e in at.exception]
            assert not at.error, [e.value for e in at.error]  # a page, not a message
            if n == 0:
                first = elapsed
            else:
                times.append(elapsed)
        pages[page] = {
            "first_s": round(first, 3),
            "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3),
        }
        if page == "History":
            shown = {m.label: m.value for m in at.metric}
            assert shown["Sessions"] == str(len(views_rows(db))), shown
    return {"runs": runs, "pages": pages}


def views_rows(db: Path) -> list[Any]:
    """The history the page shows (to check it showed all of it)."""
    from decimal import Decimal

    from finagent.app.views import history

    return history(db, Decimal(0))


def format_dashboard_bench(result: dict[str, Any]) -> str:
    """A table of the figures."""
    lines = [f"{'page':<10}{'first (s)':>11}{'median (s)':>12}{'max (s)':>10}"]
    for page, f in result["pages"].items():
        lines.append(f"{page:<10}{f['first_s']:>11.3f}{f['median_s']:>12.3f}{f['max_s']:>10.3f}")
    return "\n".join(lines)

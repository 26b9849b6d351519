"""Every page through Streamlit's own ``AppTest``, against a database ``finagent simulate`` made.

The numbers a page shows are compared with the report ``finagent simulate`` printed for the same
session; the buttons go through the real control path on a real SQLite file (no daemon runs
here, so each one says so).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import generate_latest
from streamlit.testing.v1 import AppTest

from finagent.adapters.sqlite.schema import connect_writer
from finagent.adapters.sqlite.state import SimAnchor, load_anchor, read_control
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.app import database
from finagent.dashboard.server import SCRIPT
from finagent.domain.jobs import JobStatus
from finagent.observability.metrics import Metrics
from tests.dashboard.conftest import DAYS

NY = ZoneInfo("America/New_York")


def open_page(page: str = "Today") -> AppTest:
    """Load the dashboard (as a browser's first request does) and pick ``page`` in the sidebar."""
    at = AppTest.from_file(str(SCRIPT), default_timeout=60)
    at.run()
    if page != "Today":
        at.radio(key="page").set_value(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame(at: AppTest, column: str) -> Any:
    """The first table on the page with ``column`` (a pandas DataFrame)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with {column!r}")


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, [m.label for m in at.metric]
    return str(found[0])


def as_money(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def texts(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success]
    return "\n".join(str(p.value) for p in parts)


# --- Today ------------------------------------------------------------------------------------


def test_today_shows_the_latest_session_as_its_report_has_it(
    dash_env: pytest.MonkeyPatch, reports: Mapping[str, Mapping[str, Any]]
) -> None:
    at = open_page()
    day = DAYS[-1]
    report = reports[day]
    assert f"showing {day}, the latest session with a report" in texts(at)
    assert metric(at, "Daemon") == "not running"
    assert metric(at, "Trading") == "active"
    assert as_money(metric(at, f"Realized P&L {day}")) == Decimal(report["pnl"])
    candidates = frame(at, "score")
    assert list(candidates["symbol"]) == [r["symbol"] for r in report["ranked"]]
    assert list(candidates["score"]) == [r["score"] for r in report["ranked"]]
    assert list(candidates["gap"]) == [r["components"]["gap"] for r in report["ranked"]]
    decisions = frame(at, "decision")
    assert (decisions["decision"] == "approved").sum() == report["approved"]
    assert f"{report['approved']} approved," in texts(at)
    rejected = Counter(r for rules in decisions["rule"] if rules for r in rules.split(", "))
    assert dict(rejected) == report["rejected"]
    orders = frame(at, "fill price")
    assert sorted(orders["id"]) == sorted(o["client_order_id"] for o in report["orders"])
    assert len(at.get("vega_lite_chart")) == 2  # intraday P&L and the score components
    firings = frame(at, "entry")
    assert "premarket_scan" in set(firings["entry"])


def test_a_day_with_rejections_names_each_rule(
    dash_env: pytest.MonkeyPatch, db: Path, reports: Mapping[str, Mapping[str, Any]]
) -> None:
    from finagent.app import views

    for day in DAYS:
        found = views.pipeline(db, datetime.fromisoformat(day).date())
        rules = Counter(r for d in found.decisions for r in d.rules)
        assert dict(rules) == reports[day]["rejected"]
        assert sum(d.approved for d in found.decisions) == reports[day]["approved"]


def test_a_fresh_database_shows_empty_pages_not_errors(dash_env: pytest.MonkeyPatch, tmp_path):
    fresh = tmp_path / "fresh" / "finagent.db"
    fresh.parent.mkdir()
    SqliteJobStore.open(fresh).close()
    dash_env.setenv("FINAGENT_DB_PATH", str(fresh))
    at = open_page()
    assert "No orders." in texts(at) and "No scored candidates." in texts(at)
    assert "No plans." in texts(at) and "No open positions." in texts(at)
    at = open_page("History")
    assert "No daily report yet" in texts(at)


def test_open_positions_and_a_remote_broker(dash_env: pytest.MonkeyPatch, db: Path) -> None:
    from finagent.app.parts import broker_path

    # Leave one bracket of the last day open: its entry filled, its exit not yet.
    book = sqlite3.connect(broker_path(db, None))
    with book:
        book.execute("DELETE FROM paper_fills WHERE id = (SELECT max(id) FROM paper_fills)")
    book.close()
    at = open_page()
    positions = frame(at, "unrealized P&L")
    assert len(positions) == 1 and list(positions["unrealized P&L"]) == ["-"]
    dash_env.setenv("FINAGENT_BROKER", "alpaca_paper")
    at = open_page()
    assert "The broker is remote" in texts(at)


# --- History ----------------------------------------------------------------------------------


def test_history_numbers_equal_the_reports(
    dash_env: pytest.MonkeyPatch, reports: Mapping[str, Mapping[str, Any]]
) -> None:
    at = open_page("History")
    assert metric(at, "Sessions") == str(len(DAYS))
    total = sum(Decimal(r["pnl"]) for r in reports.values())
    assert as_money(metric(at, "Total P&L")) == total
    assert as_money(metric(at, "Equity")) == Decimal(100_000) + total
    table = frame(at, "hit rate")
    assert list(table["date"]) == list(reversed(DAYS))
    for _, row in table.iterrows():
        report = reports[row["date"]]
        assert as_money(row["P&L"]) == Decimal(report["pnl"])
        assert row["trades"] == report["trades"] and row["approved"] == report["approved"]
        assert as_money(row["max DD"]) == Decimal(report["max_drawdown"])
    assert len(at.get("vega_lite_chart")) == 2  # the equity curve and the drawdown
    # Pick a day: its orders, and the pick survives a refresh of the page.
    at.selectbox(key="history_day").set_value(DAYS[0]).run()
    orders = frame(at, "client_order_id")
    assert list(orders["client_order_id"]) == [
        o["client_order_id"] for o in reports[DAYS[0]]["orders"]
    ]
    at.run()
    assert at.selectbox(key="history_day").value == DAYS[0]
    assert at.radio(key="page").value == "History"


def test_history_equity_curve_and_drawdown(db: Path) -> None:
    from finagent.app import views

    rows = views.history(db, Decimal(1000))
    equity = Decimal(1000)
    peak = equity
    for row in rows:
        equity += row.pnl
        peak = max(peak, equity)
        assert (row.equity, row.drawdown) == (equity, equity - peak)
    assert views.report_orders(db, "2001-01-01") == []


# --- Queue ------------------------------------------------------------------------------------


def _kill_job(db: Path, job_id: int, error: str) -> None:
    """Make ``job_id`` a dead letter, as a job failed past max_attempts leaves it."""
    conn = connect_writer(db, must_exist=True)
    with conn:
        conn.execute(
            "UPDATE jobs SET status = 'dead', last_error = ?, attempts = max_attempts,"
            " finished_at = updated_at WHERE id = ?",
            (error, job_id),
        )
    conn.close()


def test_queue_counts_and_retrying_a_dead_job(dash_env: pytest.MonkeyPatch, db: Path) -> None:
    _kill_job(db, 3, "BrokerError: injected for the test")
    at = open_page("Queue")
    stats = database.queue_stats(db, 0.0)
    assert metric(at, "Dead") == "1"
    assert metric(at, "Pending") == str(stats.total(JobStatus.PENDING))
    counts = frame(at, "type").set_index("type")
    for (job_type, status), n in stats.counts.items():
        assert counts.loc[job_type, status.value] == n
    assert "BrokerError: injected for the test" in [c.value for c in at.code]
    at.button(key="retry-3").click().run()
    assert "Move job 3 back to pending?" in texts(at)
    at.button(key="retry-3-no").click().run()  # cancel: nothing changes
    assert "Move job 3 back to pending?" not in texts(at)
    assert database.read_job(db, 3).status is JobStatus.DEAD  # type: ignore[union-attr]
    at.button(key="retry-3").click().run()
    at.button(key="retry-3-yes").click().run()
    assert "job 3 is pending again; no daemon is running" in texts(at)
    assert database.read_job(db, 3).status is JobStatus.PENDING  # type: ignore[union-attr]
    assert "No dead jobs." in texts(at)


def test_retry_reports_a_job_no_longer_dead_and_a_running_daemon(db: Path, dash_env) -> None:
    from finagent.dashboard import pages
    from finagent.settings import load_settings

    settings = load_settings(None).settings
    state: dict[str, Any] = {}
    dash_env.setattr(pages.st, "session_state", state)
    pages._retry(settings, 3, 4242, 0.0)
    assert state["result"] == (False, "job 3 is no longer dead; nothing changed")
    _kill_job(db, 3, "boom")
    pages._retry(settings, 3, 4242, 0.0)
    assert state["result"] == (
        True,
        "job 3 is pending again; daemon pid 4242 runs it when it is due",
    )
    db.unlink()
    pages._retry(settings, 3, None, 0.0)
    assert "no such database" in state["result"][1]
    pages._set_state(settings, "halted", False)
    assert "no such database" in state["result"][1]


def test_queue_on_redis_is_not_read_here(dash_env: pytest.MonkeyPatch) -> None:
    dash_env.setenv("FINAGENT_QUEUE_BACKEND", "redis")
    at = open_page("Queue")
    assert "The queue is on Redis" in texts(at)


# --- Schedule ---------------------------------------------------------------------------------


def test_schedule_marks_holidays_and_early_closes(dash_env: pytest.MonkeyPatch, db: Path) -> None:
    # The daemon's clock (the sim timeline stored in the database) is in Thanksgiving week.
    monday = datetime(2025, 11, 24, 10, 0, tzinfo=NY).timestamp()
    conn = connect_writer(db, must_exist=True)
    load_anchor(conn, SimAnchor(wall_start=time.time(), sim_start=monday, speed=1.0))
    conn.close()
    at = open_page("Schedule")
    rows = frame(at, "session")
    sessions = {d for d, s in zip(rows["date"], rows["session"], strict=True) if "CLOSED" not in s}
    assert len(sessions) == 10
    assert "CLOSED (Thanksgiving" in " ".join(rows["session"])
    friday = rows[rows["date"] == "2025-11-28 Fri"]
    assert set(friday["session"]) == {"09:30-13:00 EARLY CLOSE"}
    scan = rows[(rows["date"] == "2025-11-24 Mon") & (rows["entry"] == "premarket_scan")]
    assert list(scan["exchange time"]) == ["09:00 EST"]
    assert list(scan["display time"]) == ["Mon 14:00 UTC"]
    assert "closed: 2025-11-27 Thu (Thanksgiving" in texts(at)
    assert "early closes: 2025-11-28 Fri" in texts(at)


# --- Health -----------------------------------------------------------------------------------


@pytest.fixture
def metrics_server() -> Iterator[int]:
    """A real HTTP /metrics on 127.0.0.1 with the daemon's own metric families."""
    m = Metrics("test", process_collectors=False)
    m.actor_up.labels("persistence").set(1)
    m.actor_up.labels("scanner").set(0)
    m.actor_restarts.labels("scanner").inc(2)
    m.event_loop_lag.set(0.0125)
    body = generate_latest(m.registry)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_health_reads_the_daemons_metrics(dash_env: pytest.MonkeyPatch, metrics_server: int):
    dash_env.setenv("FINAGENT_METRICS__PORT", str(metrics_server))
    at = open_page("Health")
    assert metric(at, "Actors up") == "1/2"
    assert metric(at, "Restarts") == "2"
    assert metric(at, "Loop lag") == "12.5 ms"
    actors = frame(at, "actor").set_index("actor")
    assert actors.loc["scanner", "restarts"] == 2 and not actors.loc["scanner", "up"]


def test_health_says_when_the_metrics_are_unreachable(dash_env: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    dash_env.setenv("FINAGENT_METRICS__PORT", str(free))
    dash_env.setenv("FINAGENT_METRICS__HOST", "0.0.0.0")
    at = open_page("Health")
    assert f"/metrics at http://127.0.0.1:{free}/metrics is not reachable" in texts(at)


# --- Controls ---------------------------------------------------------------------------------


def test_halt_flatten_resume_each_confirmed(dash_env: pytest.MonkeyPatch, db: Path) -> None:
    at = open_page()
    at.button(key="halt").click().run()
    assert "Halt trading? No new entries" in texts(at)
    at.button(key="halt-no").click().run()
    assert read_control(db).state == "active"
    at.button(key="halt").click().run()
    at.button(key="halt-yes").click().run()
    assert "halted in" in texts(at) and "no daemon is running" in texts(at)
    assert read_control(db).state == "halted"
    assert metric(at, "Trading") == "halted"
    at.button(key="flatten").click().run()
    at.button(key="flatten-yes").click().run()
    assert "halted, flatten request 1 in" in texts(at)
    assert read_control(db).flatten_seq == 1
    at.button(key="resume").click().run()
    at.button(key="resume-yes").click().run()
    assert read_control(db).state == "active"
    assert not at.exception


# --- Files and settings -----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["Today", "History", "Queue", "Schedule", "Health"])
def test_a_missing_database_is_a_message_not_a_traceback(
    dash_env: pytest.MonkeyPatch, tmp_path: Path, page: str
) -> None:
    dash_env.setenv("FINAGENT_DB_PATH", str(tmp_path / "nowhere.db"))
    at = open_page(page)
    assert "nowhere.db: no such database file" in texts(at)


def test_a_foreign_file_is_a_message(dash_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database\n" * 100)
    dash_env.setenv("FINAGENT_DB_PATH", str(foreign))
    at = open_page()
    assert "notes.txt: not a SQLite database" in texts(at)


def test_bad_settings_are_a_message(dash_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dashboard: [unclosed\n")
    dash_env.setenv("FINAGENT_CONFIG", str(bad))
    at = open_page()
    assert "the settings cannot be loaded" in texts(at)


# --- Password ---------------------------------------------------------------------------------


def test_the_password_gate(dash_env: pytest.MonkeyPatch) -> None:
    dash_env.setenv("FINAGENT_DASHBOARD__PASSWORD", "s3cret")
    at = AppTest.from_file(str(SCRIPT), default_timeout=60)
    at.run()
    assert "password protected" in texts(at)
    assert not at.metric  # nothing of the daemon is shown before the password
    at.text_input(key="password").input("wrong").run()
    assert "Wrong password." in texts(at)
    assert not at.metric
    at.text_input(key="password").input("s3cret").run()
    assert not at.exception
    assert metric(at, "Daemon") == "not running"


def test_a_session_without_orders(dash_env: pytest.MonkeyPatch, db: Path) -> None:
    conn = connect_writer(db, must_exist=True)
    with conn:
        conn.execute(
            "UPDATE daily_reports SET report = json_set(report, '$.orders', json('[]'))"
            " WHERE session_date = ?",
            (DAYS[1],),
        )
    conn.close()
    at = open_page("History")
    at.selectbox(key="history_day").set_value(DAYS[1]).run()
    assert "No orders that session." in texts(at)

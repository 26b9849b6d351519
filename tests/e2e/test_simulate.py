"""A whole simulated session end to end in virtual time: wiring and consistency checks.

The expectations here are derived from the same domain functions the daemon runs (scan, rank,
plan_trade on the simulated market), so they show the daemon wires those functions together
and runs them on the right inputs, not that their numbers are right. The numbers are checked
by hand against a tiny scripted market in ``tests/e2e/test_golden_day.py``.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import trio
import trio.testing

from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.adapters.sim.market import SimMarket
from finagent.adapters.sqlite.state import read_control, read_report, set_control
from finagent.app.parts import sim_session_for
from finagent.app.simulate import find_session, run_simulation
from finagent.cli import trading
from finagent.domain.gaps import ScanRules, attach_catalysts, scan
from finagent.domain.planning import PlanRules, plan_trade
from finagent.domain.scoring import ScoreWeights, rank
from finagent.settings import load_settings

DAY = date(2025, 1, 6)
SYMBOLS = 600
SEED = 7


@pytest.fixture(scope="module")
def calendar():
    return XcalsExchangeCalendar("XNYS")


def _settings(path, **sim):
    overrides = {
        "db_path": str(path),
        "sim": {"symbols": SYMBOLS, "seed": SEED, **sim},
        "metrics": {"enabled": False},
    }
    return load_settings(None, overrides, environ={}).settings


def _run(tmp_path, calendar, name="sim.db", crash_rate=0.0):
    session = find_session(calendar, DAY, DAY)
    return run_simulation(_settings(tmp_path / name), session, crash_rate=crash_rate)


async def _expected(calendar):
    session = find_session(calendar, DAY, DAY)
    market = SimMarket(symbols=SYMBOLS, seed=SEED, session_for=sim_session_for(calendar))
    at = session.open - timedelta(minutes=30)
    rules = ScanRules()
    found = scan(await market.snapshots(await market.universe(DAY), at), rules)
    found = attach_catalysts(
        found, await market.headlines([c.symbol for c in found], at - timedelta(hours=24), at)
    )
    ranked = rank(found, ScoreWeights(), rules.max_candidates)
    plans = []
    for s in ranked:
        bars = await market.minute_bars(s.symbol, session.open, session.open + timedelta(minutes=5))
        plan = plan_trade(s.candidate, bars, PlanRules(), session)
        if plan is not None:
            plans.append(plan)
    return found, ranked, plans


def test_session_outcome_matches_the_domain_functions_called_without_the_daemon(tmp_path, calendar):
    report = _run(tmp_path, calendar)
    found, ranked, plans = trio.run(_expected, calendar)
    assert report["candidate_symbols"] == [c.symbol for c in found]
    assert [r["symbol"] for r in report["ranked"]] == [s.symbol for s in ranked]
    assert report["plans"] == len(plans) > 0
    assert report["approved"] + sum(report["rejected"].values()) >= len(plans)
    by_symbol = {p.symbol: p for p in plans}
    assert len(report["orders"]) == report["approved"] > 0
    for order in report["orders"]:
        plan = by_symbol[order["symbol"]]
        assert (order["entry"], order["stop"], order["target"]) == (
            str(plan.entry),
            str(plan.stop),
            str(plan.target),
        )
        assert order["side"] == plan.side.value
        assert order["status"] in ("closed", "canceled", "expired")
    assert report["open_positions"] == []
    assert report["lost_jobs"] == 0
    assert report["duplicate_orders"] == 0
    assert report["fills"] == sum(
        (o["filled_price"] is not None) + (o["exit_price"] is not None) for o in report["orders"]
    )


def _stable(report):
    return {k: v for k, v in report.items() if k not in ("wall_s", "job_latency_ms")}


def test_same_seed_gives_the_same_report(tmp_path, calendar):
    first = _run(tmp_path, calendar, "a.db")
    second = _run(tmp_path, calendar, "b.db")
    assert _stable(first) == _stable(second)


def test_crashing_services_end_with_the_crash_free_orders_and_positions(tmp_path, calendar):
    calm = _run(tmp_path, calendar, "calm.db")
    stormy = _run(tmp_path, calendar, "storm.db", crash_rate=0.3)
    assert stormy["crashes_injected"] > 0
    assert stormy["restarts"] >= stormy["crashes_injected"]
    assert stormy["orders"] == calm["orders"]
    assert stormy["open_positions"] == calm["open_positions"] == []
    assert stormy["pnl"] == calm["pnl"]
    assert stormy["lost_jobs"] == 0
    assert stormy["duplicate_orders"] == 0


def test_halted_before_the_session_sends_no_order(tmp_path, calendar, capsys):
    path = tmp_path / "halted.db"
    set_control(path, "halted", flatten=False, now=0.0)
    session = find_session(calendar, DAY, DAY)
    report = run_simulation(_settings(path), session, progress=True)
    err = capsys.readouterr().err
    assert err.startswith("\r2025-01-06 ") and "open orders" in err and err.endswith("\n")
    assert report["approved"] == 0
    assert report["orders"] == []
    assert report["rejected"]["trading_state"] == report["plans"] > 0


def test_cli_simulate_json_then_report_halt_and_resume(tmp_path, capsys):
    path = tmp_path / "cli.db"
    trading.simulate(date=DAY.isoformat(), symbols=300, seed=SEED, db=path, json=True)
    out = json.loads(capsys.readouterr().out)
    for field in ("seed", "date", "candidates", "plans", "approved", "rejected", "orders",
                  "fills", "pnl", "lost_jobs", "duplicate_orders", "open_positions",
                  "restarts", "job_latency_ms", "wall_s"):  # fmt: skip
        assert field in out
    assert out["date"] == DAY.isoformat() and out["seed"] == SEED
    trading.report(db=path, json=True)
    stored = json.loads(capsys.readouterr().out)
    assert stored["orders"] == out["orders"]
    assert read_report(path, DAY.isoformat()) == stored
    trading.report(db=path, date=DAY.isoformat())
    assert f"session {DAY.isoformat()}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as halted:  # stored, but no daemon runs to apply it: 3
        trading.halt(flatten=True, db=path)
    assert halted.value.code == 3
    assert "halted" in capsys.readouterr().out
    assert (read_control(path).state, read_control(path).flatten_seq) == ("halted", 1)
    with pytest.raises(SystemExit) as resumed:
        trading.resume(db=path)
    assert resumed.value.code == 3
    assert read_control(path).state == "active"


def test_cli_simulate_into_a_pipe_draws_no_progress_line(tmp_path, capsys):
    trading.simulate(date=DAY.isoformat(), symbols=50, seed=SEED, db=tmp_path / "p.db")
    captured = capsys.readouterr()
    assert captured.err == ""  # stderr is not a terminal here
    assert captured.out.startswith(f"session {DAY.isoformat()}  seed {SEED}  symbols 50\n")


def test_simulating_a_holiday_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as exc:
        trading.simulate(date="2025-12-25", symbols=10)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == "finagent: error: 2025-12-25 is not a trading session on XNYS\n"


def _config(tmp_path, text):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("exchange", "message"),
    [
        ("calendar: NOPE", "exchange.calendar: unknown calendar 'NOPE'"),
        (
            "timezone: Europe/London",
            "exchange.timezone: 'Europe/London' does not match calendar XNYS's zone",
        ),
    ],
)
def test_config_check_refuses_a_bad_exchange_calendar_in_one_line(
    tmp_path, capsys, exchange, message
):
    from finagent.cli import check

    path = _config(tmp_path, f"exchange:\n  {exchange}\n")
    with pytest.raises(SystemExit) as exc:
        check(config=path)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"finagent: error: {message}")
    assert err.count("\n") == 1


def test_config_check_accepts_the_default_calendar(tmp_path, capsys):
    from finagent.cli import check

    check(config=_config(tmp_path, "exchange:\n  calendar: XNYS\n"))
    assert capsys.readouterr().out.startswith("ok: ")


def test_scan_once_lists_the_candidates_the_domain_functions_find(tmp_path, capsys, calendar):
    path = _config(tmp_path, f"sim:\n  symbols: {SYMBOLS}\n  seed: {SEED}\n")
    at = find_session(calendar, DAY, DAY).open - timedelta(minutes=30)
    trading.scan(once=True, at=at.isoformat(), json=True, config=path)
    out = json.loads(capsys.readouterr().out)
    found, _, _ = trio.run(_expected, calendar)
    ranked = rank(found, ScoreWeights(), len(found))
    assert out["at"] == at.isoformat()
    assert [c["symbol"] for c in out["candidates"]] == [s.symbol for s in ranked]
    assert len(ranked) > 0
    for row, s in zip(out["candidates"], ranked, strict=True):
        assert row["score"] == pytest.approx(float(s.score), abs=1e-3)
    trading.scan(once=True, at=at.isoformat(), config=path)
    text = capsys.readouterr().out.splitlines()
    assert text[0] == f"{len(ranked)} candidate(s) as of {at.isoformat()}"
    assert text[2].split()[0] == ranked[0].symbol


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"once": False}, "only --once"), ({"at": "yesterday"}, "--at 'yesterday'")],
)
def test_scan_refuses_what_it_cannot_do(tmp_path, capsys, kwargs, message):
    with pytest.raises(SystemExit) as exc:
        trading.scan(config=_config(tmp_path, "sim:\n  symbols: 10\n"), **kwargs)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


async def _daemon_after_a_missed_day(path, session):
    """Run the daemon 20 min after the close with a cursor saved the day before."""
    from finagent.adapters.clocks import VirtualClock
    from finagent.app import DaemonOptions, run_daemon
    from finagent.app.parts import DaemonProbe

    probe = DaemonProbe()
    clock = VirtualClock(session.close + timedelta(minutes=20))
    options = DaemonOptions(clock=clock, inline=True, probe=probe)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: run_daemon(
                _settings(path), options, stop=stop, task_status=task_status
            )
        )
        parts = probe.parts
        for _ in range(600):  # the late daily report runs within virtual seconds
            if await parts.records.report(DAY.isoformat()) is not None:
                break
            await trio.sleep(1)
        cursor = await parts.scheduler._cursor.load()
        stop.set()
    return parts.metrics, cursor


def test_the_scheduler_cursor_is_durable_and_missed_firings_are_counted(tmp_path, calendar):
    import sqlite3

    from prometheus_client import generate_latest

    path = tmp_path / "cursor.db"
    session = find_session(calendar, DAY, DAY)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schedule_cursor (id INTEGER PRIMARY KEY, handled REAL NOT NULL)")
    conn.execute(
        "INSERT INTO schedule_cursor VALUES (1, ?)",
        ((session.open - timedelta(hours=20)).timestamp(),),
    )
    conn.commit()
    conn.close()
    metrics, cursor = trio.run(
        _daemon_after_a_missed_day,
        path,
        session,
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    text = generate_latest(metrics.registry).decode()
    for entry in ("premarket_scan", "time_stop", "flatten"):
        assert f'finagent_schedule_skipped_total{{entry="{entry}"}} 1.0' in text
    assert 'finagent_schedule_skipped_total{entry="daily_report"}' not in text
    assert cursor == session.close + timedelta(minutes=5)  # the report fired late
    stored = sqlite3.connect(path).execute("SELECT handled FROM schedule_cursor").fetchone()
    assert stored == (cursor.timestamp(),)
    count = next(
        line
        for line in text.splitlines()
        if line.startswith("finagent_sqlite_commit_seconds_count")
    )
    assert float(count.split()[1]) > 0
    assert read_report(path, DAY.isoformat())["candidates"] == 0


def test_paper_db_path_setting_places_the_paper_broker(tmp_path):
    from finagent.app.parts import broker_path

    assert broker_path(tmp_path / "a.db") == tmp_path / "a.paper.db"
    assert broker_path(tmp_path / "a.db", tmp_path / "b.db") == tmp_path / "b.db"


def test_simulate_refuses_a_real_broker_in_one_line(tmp_path, capsys):
    config = _config(tmp_path, "broker: alpaca_paper\n")
    with pytest.raises(SystemExit) as exc:
        trading.simulate(date="2025-01-06", symbols=10, config=config)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("finagent: error: simulate runs on feed sim, broker paper")
    assert "broker alpaca_paper" in err
    assert err.count("\n") == 1


def test_simulate_into_a_file_that_is_not_sqlite_is_refused(tmp_path, capsys):
    db = tmp_path / "junk.db"
    db.write_bytes(b"plain text")
    with pytest.raises(SystemExit) as exc:
        trading.simulate(date="2025-01-06", symbols=10, db=db)
    assert exc.value.code == 2
    assert capsys.readouterr().err == f"finagent: error: {db}: not a SQLite database\n"
    assert db.read_bytes() == b"plain text"

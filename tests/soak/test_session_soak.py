"""Soak: a full simulated session (pre-market to report) on the default 5,000-symbol feed.

Six hours and a half of market in virtual time, with seeded service crashes on top, through the
real daemon wiring. Nothing may escape as an unhandled exception, and the report's invariants
must hold: no lost job, no doubled order, every position flat after the close.
"""

from __future__ import annotations

import logging
from datetime import date

import pytest

from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.app.simulate import find_session, run_simulation
from finagent.settings import load_settings

pytestmark = pytest.mark.slow

DAY = date(2025, 3, 12)


def test_a_full_session_of_5000_symbols_with_crashes_keeps_the_invariants(tmp_path, caplog):
    settings = load_settings(
        None,
        {"db_path": str(tmp_path / "soak.db"), "metrics": {"enabled": False}},
        environ={},
    ).settings
    assert settings.sim.symbols == 5000  # the default feed
    session = find_session(XcalsExchangeCalendar("XNYS"), DAY, DAY)
    with caplog.at_level(logging.WARNING):
        report = run_simulation(settings, session, crash_rate=0.2)
    assert report["date"] == DAY.isoformat()
    assert report["candidates"] > 0 and report["orders"]
    assert report["lost_jobs"] == 0
    assert report["duplicate_orders"] == 0
    assert report["open_positions"] == []
    assert report["crashes_injected"] > 0
    assert report["restarts"] >= report["crashes_injected"]
    ids = [o["client_order_id"] for o in report["orders"]]
    assert len(ids) == len(set(ids))
    assert all(o["status"] in ("closed", "canceled", "expired") for o in report["orders"])
    # Only the injected crashes may be errors (they are logged): nothing else escaped a handler.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors
    assert all("injected crash" in r.getMessage() or _injected(r) for r in errors), [
        r.getMessage() for r in errors
    ]


def _injected(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return exc is not None and "injected crash" in str(exc)

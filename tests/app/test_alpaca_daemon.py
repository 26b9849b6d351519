"""The daemon on ``broker: alpaca_paper``: a simulated session places the paper broker's orders.

Issue 7: "a full simulated session with feed: sim and broker: alpaca_paper pointed at the fake
Alpaca server gives the same orders as the paper broker".

Transport choice: the session runs in virtual time (``MockClock(autojump_threshold=0)``, as
``finagent simulate`` does). Over a real socket the clock would autojump while the loop waits
for the server thread's answer: httpx's timeouts are Trio deadlines, so they would fire in
virtual time and the scheduler would skip ahead mid-request. The fake's router
(``tests.fakes.alpaca.routes.route``) is therefore served in-process through
``httpx.MockTransport``: the same routes, book and key check as the threaded server (which
``tests/unit/test_brokers.py`` exercises over real HTTP), with no waits to jump over.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import trio
import trio.testing

from finagent.adapters.clocks import VirtualClock
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.app import DaemonOptions, run_daemon
from finagent.app.parts import DaemonProbe
from finagent.app.simulate import find_session, run_simulation
from finagent.settings import load_settings
from tests.fakes.alpaca import FakeAlpacaState
from tests.fakes.alpaca.routes import route

DAY = date(2025, 1, 6)
SYMBOLS = 600
SEED = 7
KEYS = {"FINAGENT_ALPACA__KEY_ID": "test-key", "FINAGENT_ALPACA__SECRET_KEY": "test-secret"}


def in_process(state: FakeAlpacaState) -> httpx.MockTransport:
    """The fake Alpaca's routes behind an in-process transport (key check, faults, book)."""

    def handle(request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        with state.lock:
            state.requests.append((method, path))
        if (
            request.headers.get("APCA-API-KEY-ID") != state.key_id
            or request.headers.get("APCA-API-SECRET-KEY") != state.secret_key
        ):
            return httpx.Response(401, json={"code": 40110000, "message": "not authorized"})
        fault = state.take_fault(method, path)
        if fault is not None:
            body = fault.body or {"message": "injected"}
            return httpx.Response(fault.status, json=body, headers=fault.headers)
        body = json.loads(request.content) if request.content else None
        with state.lock:
            reply = route(state, method, path, dict(request.url.params), body)
        if reply.body is None:
            return httpx.Response(reply.status, headers=reply.headers)
        return httpx.Response(reply.status, json=reply.body, headers=reply.headers)

    return httpx.MockTransport(handle)


def _settings(path: Any, broker: str) -> Any:
    overrides = {
        "db_path": str(path),
        "broker": broker,
        "sim": {"symbols": SYMBOLS, "seed": SEED},
        "metrics": {"enabled": False},
        "alpaca": {"rate_per_min": 100_000},
    }
    return load_settings(None, overrides, environ=dict(KEYS)).settings


async def _alpaca_session(settings: Any, session: Any, state: FakeAlpacaState) -> dict[str, Any]:
    """The simulator's loop (``finagent.app.simulate``) with the Alpaca transport injected."""
    vclock = VirtualClock(session.open - timedelta(minutes=35))
    probe = DaemonProbe()
    options = DaemonOptions(
        clock=vclock, inline=True, probe=probe, alpaca_transport=in_process(state)
    )
    stop = trio.Event()
    day = session.date.isoformat()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: run_daemon(settings, options, stop=stop, task_status=task_status)
        )
        parts = probe.parts
        assert parts is not None
        # A remote broker is probed for /readyz, and the fake answered it at start.
        assert parts.broker_probe is not None and parts.live["broker_reachable"]() is None
        await vclock.sleep_until(session.close + timedelta(minutes=10))
        report = await parts.records.report(day)
        stop.set()
    assert report is not None, "no daily report was stored"
    return dict(report)


def _identity(order: dict[str, Any]) -> tuple[Any, ...]:
    return (
        order["client_order_id"], order["symbol"], order["side"], int(order["qty"]),
        Decimal(order["entry"]), Decimal(order["stop"]), Decimal(order["target"]),
    )  # fmt: skip


def _fake_book(state: FakeAlpacaState) -> list[tuple[Any, ...]]:
    """What the fake received, in the report's terms (entry, stop-loss leg, take-profit leg)."""
    out = []
    for o in state.orders.values():
        target = next(leg for leg in o["legs"] if leg["type"] == "limit")
        stop = next(leg for leg in o["legs"] if leg["type"] == "stop")
        side = "long" if o["side"] == "buy" else "short"
        out.append((
            o["client_order_id"], o["symbol"], side, int(o["qty"]), Decimal(o["stop_price"]),
            Decimal(stop["stop_price"]), Decimal(target["limit_price"]),
        ))  # fmt: skip
    return sorted(out)


def test_alpaca_paper_session_places_the_paper_brokers_orders(tmp_path):
    session = find_session(XcalsExchangeCalendar("XNYS"), DAY, DAY)
    paper = run_simulation(_settings(tmp_path / "paper.db", "paper"), session)
    expected = sorted(_identity(o) for o in paper["orders"])
    assert expected, "the paper session placed no orders: nothing to compare"

    state = FakeAlpacaState()
    report = trio.run(
        _alpaca_session,
        _settings(tmp_path / "alpaca.db", "alpaca_paper"),
        session,
        state,
        clock=trio.testing.MockClock(autojump_threshold=0),
    )

    assert _fake_book(state) == expected  # the broker got exactly the paper broker's orders
    assert sorted(_identity(o) for o in report["orders"]) == expected
    assert state.count("POST", "/v2/orders") == len(expected)  # none sent twice
    # the flatten sweep canceled every working entry; the fake never filled one
    assert {o["status"] for o in state.orders.values()} == {"canceled"}
    assert not (tmp_path / "alpaca.paper.db").exists()  # no paper broker was opened

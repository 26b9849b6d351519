"""Start-up reconciliation for every broker: our book from the queue's trail, the broker's own."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from finagent.domain.errors import ReconciliationError
from finagent.domain.market import Side
from finagent.domain.orders import (
    BracketOrder,
    FillKind,
    OrderStatus,
    Position,
    client_order_id,
)
from finagent.ports.trading import JobTrail
from finagent.services.reconciliation import ReconcilingExecution, session_day, trail_book
from tests.fakes import FakeBroker, FakeClock

NOW = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)


def _order(key: str = "2025-01-06:execute:ABC", symbol: str = "ABC", qty: int = 10) -> BracketOrder:
    return BracketOrder(
        client_order_id(key), symbol, Side.LONG, qty,
        Decimal("10.00"), Decimal("9.50"), Decimal("11.00"),
    )  # fmt: skip


class _Records:
    def __init__(self, trail: list[JobTrail]) -> None:
        self.trail = trail
        self.days: list[str] = []

    async def session_jobs(self, session_date: str) -> list[JobTrail]:
        self.days.append(session_date)
        return self.trail


class _Inner:
    def __init__(self) -> None:
        self.started = 0
        self.jobs: list[Any] = []

    async def start(self) -> None:
        self.started += 1

    async def handle(self, job: Any, payload: Any) -> list[Any]:
        self.jobs.append((job, payload))
        return []


def _trail(key: str, approved: bool = True) -> JobTrail:
    return JobTrail("execute", key, "done", 1, {"approved": approved}, 0.0, 0.0, 1.0, None)


async def test_reconciling_execution_starts_when_the_books_agree():
    clock = FakeClock(NOW)
    broker = FakeBroker(clock)
    mine, adopted = _order("mine", "ABC"), _order("theirs", "XYZ")
    await broker.submit(mine)
    await broker.submit(adopted)
    records = _Records([_trail("mine"), _trail("rejected", approved=False), _trail("gone")])
    today = session_day(clock.now, "America/New_York")
    inner = _Inner()
    execution = ReconcilingExecution(inner, broker, trail_book(records, broker, today))
    await execution.start()
    assert inner.started == 1 and records.days == ["2025-01-06"]
    assert execution.last is not None and execution.last.consistent
    assert [o.client_order_id for o in execution.last.adopted] == [adopted.client_order_id]
    assert await execution.handle("job", "payload") == [] and inner.jobs == [("job", "payload")]


async def test_reconciling_execution_refuses_a_position_it_does_not_know():
    clock = FakeClock(NOW)
    broker = FakeBroker(clock)
    stranger = _order("stranger", "ABC", 7)
    await broker.submit(stranger)
    broker.fill_entry(stranger.client_order_id)  # the broker holds 7 ABC we never traded
    inner = _Inner()
    execution = ReconcilingExecution(
        inner, broker, trail_book(_Records([]), broker, lambda: "2025-01-06")
    )
    with pytest.raises(ReconciliationError, match="ABC: ours 0, broker 7"):
        await execution.start()
    assert inner.started == 0  # nothing may be sent
    tolerant = ReconcilingExecution(
        inner, broker, trail_book(_Records([]), broker, lambda: "2025-01-06"), tolerance_shares=7
    )
    await tolerant.start()
    assert inner.started == 1


async def test_our_book_is_the_working_orders_and_the_positions_their_fills_imply():
    clock = FakeClock(NOW)
    broker = FakeBroker(clock)
    keys = ("a", "b", "c", "rejected")
    held, closed, working = _order("a", "ABC", 10), _order("b", "XYZ", 5), _order("c", "QQQ")
    for order in (held, closed, working):
        await broker.submit(order)
    broker.fill_entry(held.client_order_id)
    broker.orders[closed.client_order_id] = replace(
        broker.orders[closed.client_order_id], status=OrderStatus.CLOSED,
        filled_price=Decimal(10), filled_at=NOW,
        exit_price=Decimal(11), exit_kind=FillKind.TARGET, closed_at=NOW + timedelta(minutes=5),
    )  # fmt: skip
    records = _Records([_trail(k, approved=k != "rejected") for k in keys])
    working_orders, positions = await trail_book(records, broker, lambda: "2025-01-06")()
    assert [o.client_order_id for o in working_orders] == [working.client_order_id]
    assert positions == [Position("ABC", 10, Decimal("10.00"))]  # XYZ went flat, QQQ never filled


def test_setting_the_switch_state_sets_the_operators_choice_under_any_fault():
    from finagent.domain.risk import TradingState
    from finagent.services.trading_state import TradingSwitch

    switch = TradingSwitch()
    switch.state = TradingState.HALTED  # what the trading watch applies from the control row
    assert switch.chosen is TradingState.HALTED and switch.state is TradingState.HALTED
    switch.state = TradingState.ACTIVE
    switch.hold("redis came back without finagent's data")
    assert switch.chosen is TradingState.ACTIVE and switch.state is TradingState.DEGRADED

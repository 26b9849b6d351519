"""Start-up reconciliation: adopt, mark vanished, refuse on position drift."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, BrokerOrder, OrderStatus, Position
from finagent.domain.reconcile import (
    PositionMismatch,
    ReconciliationError,
    reconcile,
    require_consistent,
)
from finagent.services.reconciliation import reconcile_with_broker
from tests.fakes import FakeBroker, FakeClock

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def _placed(cid: str, symbol: str = "ABC") -> BrokerOrder:
    order = BracketOrder(cid, symbol, Side.LONG, 10, Decimal(10), Decimal(9), Decimal(12))
    return BrokerOrder(order, f"b-{cid}", OrderStatus.PENDING, T0)


def test_orders_only_the_broker_has_are_adopted_and_ours_it_lacks_vanish() -> None:
    result = reconcile(
        [_placed("ours-1"), _placed("both")], [], [_placed("both"), _placed("theirs")], []
    )
    assert [o.client_order_id for o in result.adopted] == ["theirs"]
    assert result.vanished == ("ours-1",)
    assert result.consistent
    assert result.summary() == "adopted 1 order(s), 1 vanished, 0 position mismatch(es)"
    require_consistent(result)


def test_positions_that_differ_beyond_the_tolerance_refuse_trading() -> None:
    ours = [Position("ABC", 100, Decimal(10)), Position("OLD", 5, Decimal(1))]
    theirs = [Position("ABC", 98, Decimal(10)), Position("NEW", -20, Decimal(3))]
    assert reconcile([], ours, [], theirs, tolerance_shares=5).mismatches == (
        PositionMismatch("NEW", 0, -20),
    )
    result = reconcile([], ours, [], theirs)
    assert [m.symbol for m in result.mismatches] == ["ABC", "NEW", "OLD"]
    assert "ABC ours 100 broker 98" in result.summary()
    with pytest.raises(ReconciliationError) as caught:
        require_consistent(result)
    assert str(caught.value).startswith("refusing to trade: positions differ from the broker (")
    assert "\n" not in str(caught.value)


async def test_reconcile_with_broker_reads_the_port() -> None:
    broker = FakeBroker(FakeClock(T0))
    placed = await broker.submit(_placed("theirs").order)
    broker.fill_entry(placed.client_order_id)
    result = await reconcile_with_broker(broker, [], [])
    assert [o.client_order_id for o in result.adopted] == ["theirs"]
    assert result.mismatches == (PositionMismatch("ABC", 0, 10),)

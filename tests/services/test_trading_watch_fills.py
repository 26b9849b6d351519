"""TradingWatch.follow_account: each fill counted once, and only open orders remembered."""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, OrderStatus, client_order_id
from finagent.observability import Metrics
from finagent.services.trading_state import TradingSwitch, TradingWatch
from tests.fakes import FakeBroker, FakeClock

NOW = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)


def _order(key: str) -> BracketOrder:
    return BracketOrder(
        client_order_id(key), "ABC", Side.LONG, 10,
        Decimal("10.00"), Decimal("9.50"), Decimal("11.00"),
    )  # fmt: skip


async def test_a_fill_counts_once_and_a_closed_order_is_forgotten() -> None:
    clock = FakeClock(NOW)
    broker, metrics = FakeBroker(clock), Metrics()
    watch = TradingWatch(TradingSwitch(), None, None, broker, clock, metrics=metrics)  # type: ignore[arg-type]
    order = _order("2025-01-06:execute:ABC")
    await broker.submit(order)
    broker.fill_entry(order.client_order_id)
    await watch.follow_account()
    await watch.follow_account()
    filled = {"side": "long", "status": "filled"}
    assert metrics.registry.get_sample_value("finagent_orders_total", filled) == 1
    assert watch._filled == {order.client_order_id}
    done = replace(broker.orders[order.client_order_id], status=OrderStatus.CLOSED, closed_at=NOW)
    broker.orders[order.client_order_id] = done
    await watch.follow_account()
    assert watch._filled == set()  # a daemon's memory does not grow with every session's orders
    assert metrics.registry.get_sample_value("finagent_orders_total", filled) == 1

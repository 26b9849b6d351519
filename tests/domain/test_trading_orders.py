"""Orders: deterministic client ids, bracket geometry, positions, accounts; market values."""

from datetime import datetime

import pytest

from finagent.domain import errors
from finagent.domain.market import Quote, Session, Side, Snapshot
from finagent.domain.orders import (
    MAX_CLIENT_ORDER_ID,
    Account,
    BracketOrder,
    Fill,
    FillKind,
    OrderSide,
    OrderStatus,
    Position,
    bracket_for,
    client_order_id,
)
from tests.domain.trading_helpers import DAY, NY, PREMARKET, SESSION, D, bar, long_plan


def test_a_short_safe_key_is_its_own_client_order_id() -> None:
    assert client_order_id("20260310-ABC-long") == "20260310-ABC-long"


def test_long_or_unsafe_keys_hash_into_48_chars_deterministically() -> None:
    key = "plan:" + "x" * 100
    cid = client_order_id(key)
    assert len(cid) == MAX_CLIENT_ORDER_ID
    assert cid == client_order_id(key)
    assert cid != client_order_id(key + "y")
    spaced = client_order_id("a b")
    assert spaced.startswith("a_b-") and spaced != client_order_id("a_b")


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        client_order_id("")


def test_bracket_for_a_plan_uses_the_plan_levels_and_key() -> None:
    plan = long_plan()
    order = bracket_for(plan, 100)
    assert (order.client_order_id, order.entry, order.stop_loss, order.take_profit) == (
        plan.key, plan.entry, plan.stop, plan.target,
    )  # fmt: skip
    assert order.notional == plan.entry * 100
    assert bracket_for(plan, 100, key="job-7").client_order_id == "job-7"


@pytest.mark.parametrize(
    ("cid", "qty", "stop", "target", "message"),
    [
        ("", 1, "9", "11", "client_order_id"),
        ("x" * 49, 1, "9", "11", "client_order_id"),
        ("ok", 0, "9", "11", "quantity"),
        ("ok", 1, "10.5", "11", "opposite"),
        ("ok", 1, "9", "9.5", "opposite"),
    ],
)
def test_malformed_brackets_are_refused(
    cid: str, qty: int, stop: str, target: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        BracketOrder(cid, "ABC", Side.LONG, qty, D(10), D(stop), D(target))


def test_order_sides_enter_and_exit_each_position_side() -> None:
    assert OrderSide.entering(Side.LONG) is OrderSide.BUY
    assert OrderSide.exiting(Side.LONG) is OrderSide.SELL
    assert OrderSide.entering(Side.SHORT) is OrderSide.SELL
    assert OrderSide.exiting(Side.SHORT) is OrderSide.BUY
    assert [s for s in OrderStatus if s.is_open] == [OrderStatus.PENDING, OrderStatus.FILLED]


def test_positions_value_a_short_correctly() -> None:
    short = Position("ABC", -100, D(10))
    assert short.side is Side.SHORT
    assert short.market_value(D(9)) == D(-900)
    assert short.notional(D(9)) == D(900)
    assert short.unrealized(D(9)) == D(100)
    assert Position("ABC", 1, D(1)).side is Side.LONG


def test_a_sell_fill_has_negative_signed_quantity() -> None:
    fill = Fill("c", "ABC", OrderSide.SELL, 5, D(1), PREMARKET, FillKind.CLOSE)
    assert fill.signed_quantity == -5


def test_account_day_pnl_is_the_change_in_equity() -> None:
    assert Account(D(101), D(100), D(200), D(100)).day_pnl == D(1)


def test_snapshot_gap_and_relative_volume() -> None:
    s = Snapshot("ABC", PREMARKET, D("10.5"), D(10), D(11), D(10), 300, 100, D(1))
    assert s.gap_pct == D(5)
    assert s.relative_volume == D(3)


def test_bar_ends_a_minute_after_it_starts_and_quote_has_a_mid() -> None:
    b = bar(0, "1", "2", "1", "2")
    assert b.end == datetime(2026, 3, 10, 9, 31, tzinfo=NY)
    assert Quote("ABC", PREMARKET, D("9.98"), D("10.02"), 1, 1).mid == D(10)


def test_sessions_need_aware_times_in_order() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        Session(DAY, datetime(2026, 3, 10, 9, 30), SESSION.close)
    with pytest.raises(ValueError, match="after"):
        Session(DAY, SESSION.close, SESSION.open)
    assert Side.LONG.sign == 1 and Side.SHORT.sign == -1


def test_error_tree_keeps_rejections_under_broker_errors() -> None:
    exc = errors.InsufficientBuyingPower("too big", "cid-1")
    assert isinstance(exc, errors.OrderRejected) and isinstance(exc, errors.BrokerError)
    assert (exc.reason, exc.client_order_id) == ("too big", "cid-1")
    assert issubclass(errors.DuplicateClientOrderId, errors.OrderRejected)
    assert issubclass(errors.PatternDayTrader, errors.OrderRejected)
    assert issubclass(errors.BrokerUnavailable, errors.BrokerError)
    assert not issubclass(errors.BrokerUnavailable, errors.OrderRejected)
    assert issubclass(errors.MarketDataUnavailable, errors.TradingError)

"""Paper fill rules: breakout entries, gaps through levels, stop-first bars, slippage, fees."""

from dataclasses import replace
from decimal import Decimal

from finagent.domain.fill_model import FillModel, apply_bar, close_at
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, BrokerOrder, FillKind, OrderSide, OrderStatus
from tests.domain.trading_helpers import SESSION, D, bar

NO_COSTS = FillModel(slippage_bps=0, commission_per_share=0)
LONG = BracketOrder("L", "ABC", Side.LONG, 100, D(10), D("9.50"), D(11))
SHORT = BracketOrder("S", "ABC", Side.SHORT, 100, D(10), D("10.50"), D(9))


def pending(order: BracketOrder = LONG) -> BrokerOrder:
    return BrokerOrder(order, "b", OrderStatus.PENDING, SESSION.open)


def test_a_bar_below_the_buy_stop_does_not_fill() -> None:
    order, fills = apply_bar(pending(), bar(0, "9.8", "9.99", "9.7", "9.9"), NO_COSTS)
    assert order.status is OrderStatus.PENDING and fills == []


def test_a_buy_stop_fills_at_its_level_when_the_bar_trades_through() -> None:
    b = bar(0, "9.8", "10.2", "9.7", "10.1")
    order, fills = apply_bar(pending(), b, NO_COSTS)
    assert order.status is OrderStatus.FILLED
    assert (order.filled_price, order.filled_quantity, order.filled_at) == (D(10), 100, b.end)
    assert [(f.side, f.price, f.kind) for f in fills] == [(OrderSide.BUY, D(10), FillKind.ENTRY)]


def test_a_gap_over_the_buy_stop_fills_at_the_open() -> None:
    order, _ = apply_bar(pending(), bar(0, "10.3", "10.4", "10.2", "10.3"), NO_COSTS)
    assert order.filled_price == D("10.3")


def test_a_sell_stop_entry_fills_a_short_on_the_way_down() -> None:
    order, fills = apply_bar(pending(SHORT), bar(0, "9.9", "9.95", "9.8", "9.85"), NO_COSTS)
    assert order.filled_price == D("9.9")
    assert fills[0].side is OrderSide.SELL


def test_a_bar_touching_stop_and_target_resolves_to_the_stop() -> None:
    filled, _ = apply_bar(pending(), bar(0, "10", "10", "10", "10"), NO_COSTS)
    closed, fills = apply_bar(filled, bar(1, "10", "11.5", "9.4", "10"), NO_COSTS)
    assert closed.status is OrderStatus.CLOSED
    assert (closed.exit_kind, closed.exit_price) == (FillKind.STOP, D("9.50"))
    assert fills[0].side is OrderSide.SELL


def test_the_entry_bar_can_also_stop_out() -> None:
    order, fills = apply_bar(pending(), bar(0, "9.9", "10.1", "9.4", "9.5"), NO_COSTS)
    assert order.status is OrderStatus.CLOSED
    assert [f.kind for f in fills] == [FillKind.ENTRY, FillKind.STOP]
    assert order.exit_price == D("9.50")


def test_the_entry_bar_can_reach_the_target() -> None:
    order, fills = apply_bar(pending(), bar(0, "9.9", "11.2", "9.8", "11"), NO_COSTS)
    assert [f.kind for f in fills] == [FillKind.ENTRY, FillKind.TARGET]
    assert order.exit_price == D(11)


def test_a_gap_through_the_stop_fills_at_the_worse_open() -> None:
    filled, _ = apply_bar(pending(), bar(0, "10", "10", "10", "10"), NO_COSTS)
    closed, _ = apply_bar(filled, bar(1, "9", "9.1", "8.9", "9"), NO_COSTS)
    assert closed.exit_price == D(9)


def test_a_gap_through_the_target_fills_at_the_better_open() -> None:
    filled, _ = apply_bar(pending(), bar(0, "10", "10", "10", "10"), NO_COSTS)
    closed, _ = apply_bar(filled, bar(1, "11.5", "11.6", "11.4", "11.5"), NO_COSTS)
    assert (closed.exit_kind, closed.exit_price) == (FillKind.TARGET, D("11.5"))


def test_short_exits_mirror_the_long_rules() -> None:
    filled, _ = apply_bar(pending(SHORT), bar(0, "10", "10", "10", "10"), NO_COSTS)
    stopped, _ = apply_bar(filled, bar(1, "10.6", "10.7", "10.4", "10.6"), NO_COSTS)
    assert (stopped.exit_kind, stopped.exit_price) == (FillKind.STOP, D("10.6"))
    won, fills = apply_bar(filled, bar(1, "8.8", "8.9", "8.7", "8.8"), NO_COSTS)
    assert (won.exit_kind, won.exit_price, fills[0].side) == (
        FillKind.TARGET,
        D("8.8"),
        OrderSide.BUY,
    )


def test_a_quiet_bar_leaves_a_filled_bracket_open() -> None:
    filled, _ = apply_bar(pending(), bar(0, "10", "10", "10", "10"), NO_COSTS)
    assert apply_bar(filled, bar(1, "10", "10.5", "9.8", "10.2"), NO_COSTS) == (filled, [])


def test_finished_orders_ignore_bars() -> None:
    done = replace(pending(), status=OrderStatus.CANCELED)
    assert apply_bar(done, bar(0, "10", "12", "8", "10"), NO_COSTS) == (done, [])


def test_slippage_goes_against_the_trader_and_commission_is_per_share() -> None:
    costs = FillModel(slippage_bps=10, commission_per_share=0.005)
    order, fills = apply_bar(pending(), bar(0, "9.9", "10.2", "9.8", "10.1"), costs)
    assert fills[0].price == D("10.01")  # 10 x (1 + 0.001)
    assert fills[0].commission == D("0.50")
    _, stop = apply_bar(order, bar(1, "9.6", "9.6", "9.4", "9.5"), costs)
    assert stop[0].price == D("9.49")  # 9.50 x (1 - 0.001), rounded to the cent
    assert costs.slipped(D(10), buying=False) == D("9.99")


def test_close_at_flattens_a_filled_bracket_at_the_last_price() -> None:
    filled, _ = apply_bar(pending(), bar(0, "10", "10", "10", "10"), NO_COSTS)
    closed, fill = close_at(filled, D("10.40"), SESSION.close, NO_COSTS)
    assert closed.status is OrderStatus.CLOSED and closed.exit_kind is FillKind.CLOSE
    assert fill is not None and (fill.side, fill.price) == (OrderSide.SELL, D("10.40"))


def test_close_at_cancels_a_working_entry_and_ignores_finished_orders() -> None:
    canceled, fill = close_at(pending(), D(10), SESSION.close, NO_COSTS)
    assert canceled.status is OrderStatus.CANCELED and fill is None
    assert close_at(canceled, D(10), SESSION.close, NO_COSTS) == (canceled, None)
    assert Decimal(0) == NO_COSTS.commission(100)

"""Alpaca JSON to domain values: decimals, times, and every bracket status."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from finagent.adapters.alpaca.wire import WireError, dec, order_from_wire, timestamp
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, FillKind, OrderStatus


def _order(status: str, tp: str = "held", sl: str = "held", **extra: Any) -> dict[str, Any]:
    order = {
        "id": "b", "client_order_id": "c", "symbol": "ABC", "qty": "5", "side": "buy",
        "type": "stop", "stop_price": "10", "status": status, "created_at": "2026-03-10T14:00:00Z",
        "legs": [
            {"type": "limit", "limit_price": "11", "status": tp, "filled_avg_price": "11",
             "filled_at": "2026-03-10T15:00:00Z", "canceled_at": "2026-03-10T15:01:00Z"},
            {"type": "stop", "stop_price": "9.5", "status": sl, "filled_avg_price": "9.5",
             "filled_at": "2026-03-10T15:02:00Z", "canceled_at": "2026-03-10T15:03:00Z"},
        ],
    }  # fmt: skip
    order.update(extra)
    return order


def test_timestamps_keep_microseconds_and_default_to_utc() -> None:
    assert timestamp("2026-03-10T14:30:00.123456789Z") == datetime(
        2026, 3, 10, 14, 30, 0, 123456, tzinfo=UTC
    )
    assert timestamp("2026-03-10T14:30:00").tzinfo is UTC
    for bad in (None, "yesterday"):
        with pytest.raises(WireError):
            timestamp(bad)


def test_decimals_read_strings_and_json_numbers_without_float_noise() -> None:
    assert dec("10.05") == Decimal("10.05")
    assert dec(3) == Decimal(3)
    assert dec(Decimal("161.1998")) == Decimal("161.1998")  # parse_float=Decimal
    assert str(dec(101.2)) == "101.2"  # a float goes through its shortest repr
    for bad in (None, True, "ten", "NaN", float("inf"), [1]):
        with pytest.raises(WireError, match="expected a number"):
            dec(bad)


@pytest.mark.parametrize(
    ("wire", "status", "exit_kind", "exit_price"),
    [
        (_order("new"), OrderStatus.PENDING, None, None),
        (_order("canceled", canceled_at="2026-03-10T14:10:00Z"), OrderStatus.CANCELED, None, None),
        (_order("done_for_day"), OrderStatus.EXPIRED, None, None),
        (_order("rejected"), OrderStatus.REJECTED, None, None),
        (_order("filled", "new", "new"), OrderStatus.FILLED, None, None),
        (_order("partially_filled", "held", "held"), OrderStatus.FILLED, None, None),
        (_order("filled", "canceled", "filled"), OrderStatus.CLOSED, FillKind.STOP, Decimal("9.5")),
        (_order("filled", "filled", "canceled"), OrderStatus.CLOSED, FillKind.TARGET, Decimal(11)),
        (_order("filled", "canceled", "canceled"), OrderStatus.CLOSED, FillKind.CLOSE, None),
    ],
)
def test_bracket_status_follows_the_entry_and_its_legs(
    wire: dict[str, Any],
    status: OrderStatus,
    exit_kind: FillKind | None,
    exit_price: Decimal | None,
) -> None:
    order = order_from_wire(wire)
    assert (order.status, order.exit_kind, order.exit_price) == (status, exit_kind, exit_price)
    assert order.order == BracketOrder(
        "c", "ABC", Side.LONG, 5, Decimal(10), Decimal("9.5"), Decimal(11)
    )


def test_a_flattened_bracket_closes_at_its_last_leg_end() -> None:
    order = order_from_wire(_order("filled", "canceled", "canceled"))
    assert order.closed_at == datetime(2026, 3, 10, 15, 3, tzinfo=UTC)


def test_without_legs_the_known_bracket_is_used_or_it_is_unreadable() -> None:
    known = BracketOrder("c", "ABC", Side.LONG, 5, Decimal(10), Decimal(9), Decimal(12))
    assert order_from_wire(_order("new", legs=[]), known=known).order is known
    with pytest.raises(WireError, match="no take-profit/stop legs"):
        order_from_wire(_order("new", legs=[]))
    with pytest.raises(WireError, match="unreadable order"):
        order_from_wire({"status": "new"})

"""Alpaca JSON to domain values: decimals, RFC 3339 times, bracket orders.

The Trading API sends money and quantities as decimal strings (``"qty": "10"``); the Market
Data API sends prices and sizes as JSON numbers (``"p": 161.1998``). :func:`dec` reads both.
:class:`~finagent.adapters.alpaca.http.AlpacaHttp` decodes bodies with ``parse_float=Decimal``,
so a JSON number never becomes a ``float``; a float that reaches :func:`dec` anyway goes
through its shortest repr, so 101.2 stays 101.2. Times carry up to nanoseconds and a ``Z``;
Python keeps microseconds. docs/alpaca.md lists the wire type of every field we read.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from finagent.domain.market import Side
from finagent.domain.orders import (
    BracketOrder,
    BrokerOrder,
    FillKind,
    OrderStatus,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "WireError",
    "bracket_body",
    "dec",
    "order_from_wire",
    "timestamp",
]

_FRACTION = re.compile(r"(\.\d{6})\d+")
_PENDING: Final = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "pending_cancel",
        "pending_replace",
        "replaced",
        "calculated",
        "stopped",
        "held",
        "suspended",
    }
)
_ENDED: Final = {
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "done_for_day": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


class WireError(ValueError):
    """A response that does not have the shape Alpaca documents."""


def dec(value: Any) -> Decimal:
    """A JSON number or decimal string as a finite ``Decimal``.

    Raises:
        WireError: None, a bool, a non-numeric string, NaN or an infinity.
    """
    if value is None or isinstance(value, bool):
        raise WireError(f"expected a number, got {value!r}")
    # repr is the shortest text that round-trips: Decimal(101.2) would be 101.2000000000000028...
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        parsed = Decimal(text)
    except InvalidOperation:
        raise WireError(f"expected a number, got {value!r}") from None
    if not parsed.is_finite():
        raise WireError(f"expected a number, got {value!r}")
    return parsed


def timestamp(value: Any) -> datetime:
    """An RFC 3339 time (``Z`` or an offset, any fraction) as a tz-aware ``datetime``."""
    if not isinstance(value, str):
        raise WireError(f"expected a timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        raise WireError(f"expected a timestamp, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _maybe_time(value: Any) -> datetime | None:
    return timestamp(value) if value else None


def bracket_body(order: BracketOrder) -> dict[str, Any]:
    """The ``POST /v2/orders`` body: a stop entry at the breakout with its two exit legs."""
    return {
        "symbol": order.symbol,
        "qty": str(order.quantity),
        "side": "buy" if order.side is Side.LONG else "sell",
        "type": "stop",
        "stop_price": str(order.entry),
        "time_in_force": "day",
        "order_class": "bracket",
        "client_order_id": order.client_order_id,
        "take_profit": {"limit_price": str(order.take_profit)},
        "stop_loss": {"stop_price": str(order.stop_loss)},
    }


def _bracket(raw: Mapping[str, Any], legs: list[Mapping[str, Any]]) -> BracketOrder:
    target = next((leg for leg in legs if leg.get("type") == "limit"), None)
    stop = next((leg for leg in legs if leg.get("type") in ("stop", "stop_limit")), None)
    if target is None or stop is None:
        raise WireError(f"order {raw.get('client_order_id')!r} has no take-profit/stop legs")
    entry = raw.get("stop_price") or raw.get("limit_price")
    return BracketOrder(
        client_order_id=str(raw["client_order_id"]),
        symbol=str(raw["symbol"]),
        side=Side.LONG if raw["side"] == "buy" else Side.SHORT,
        quantity=int(dec(raw["qty"])),
        entry=dec(entry),
        stop_loss=dec(stop["stop_price"]),
        take_profit=dec(target["limit_price"]),
    )


def order_from_wire(raw: Mapping[str, Any], known: BracketOrder | None = None) -> BrokerOrder:
    """An Alpaca bracket (with ``legs``) as a ``BrokerOrder``.

    Status: a working entry is PENDING; a filled entry is FILLED while a leg still works and
    CLOSED once a leg filled (exit = that leg) or every leg ended (flattened elsewhere: CLOSE).

    Args:
        raw: the order entity.
        known: the bracket we sent, used when the response carries no legs.

    Raises:
        WireError: the entity is not a readable bracket.
    """
    try:
        legs: list[Mapping[str, Any]] = list(raw.get("legs") or [])
        order = _bracket(raw, legs) if legs or known is None else known
        entry_status = str(raw["status"])
        base = BrokerOrder(
            order=order,
            broker_id=str(raw["id"]),
            status=OrderStatus.PENDING,
            submitted_at=timestamp(raw.get("submitted_at") or raw["created_at"]),
            filled_quantity=int(dec(raw.get("filled_qty") or 0)),
            filled_price=dec(raw["filled_avg_price"]) if raw.get("filled_avg_price") else None,
            filled_at=_maybe_time(raw.get("filled_at")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"unreadable order: {exc}") from None
    if entry_status in _ENDED:
        ended = _maybe_time(raw.get("canceled_at") or raw.get("expired_at") or raw.get("failed_at"))
        return replace(base, status=_ENDED[entry_status], closed_at=ended)
    if entry_status not in ("filled", "partially_filled"):
        return base
    return _after_fill(base, legs, entry_status)


def _after_fill(base: BrokerOrder, legs: list[Mapping[str, Any]], entry: str) -> BrokerOrder:
    for leg in legs:
        if leg.get("status") == "filled":
            kind = FillKind.TARGET if leg.get("type") == "limit" else FillKind.STOP
            return replace(
                base,
                status=OrderStatus.CLOSED,
                exit_price=dec(leg["filled_avg_price"]),
                exit_kind=kind,
                closed_at=_maybe_time(leg.get("filled_at")),
            )
    if entry == "partially_filled" or any(leg.get("status") in _PENDING for leg in legs):
        return replace(base, status=OrderStatus.FILLED)
    ended = [_maybe_time(leg.get("canceled_at") or leg.get("expired_at")) for leg in legs]
    closed_at = max((t for t in ended if t is not None), default=None)
    return replace(base, status=OrderStatus.CLOSED, exit_kind=FillKind.CLOSE, closed_at=closed_at)

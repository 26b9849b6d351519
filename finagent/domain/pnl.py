"""Position and P&L arithmetic over fills (average-cost, exact Decimal).

``apply_fill`` is the one rule: a fill in the position's direction (or from flat) averages
in; a fill against it realizes ``(price - avg) x closed x sign`` and may flip the position.
Commissions are kept apart from the gross P&L and subtracted in ``net``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from finagent.domain.market import Side
from finagent.domain.money import ZERO
from finagent.domain.orders import Fill, Position

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime
    from decimal import Decimal

__all__ = [
    "RoundTrip",
    "apply_fill",
    "positions_from",
    "realized_pnl",
    "round_trips",
    "unrealized_pnl",
]


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One trade from flat back to flat: its gross P&L and its commissions."""

    symbol: str
    side: Side
    quantity: int
    opened_at: datetime
    closed_at: datetime
    gross: Decimal
    commission: Decimal

    @property
    def net(self) -> Decimal:
        """P&L after commissions."""
        return self.gross - self.commission


def apply_fill(position: Position | None, fill: Fill) -> tuple[Position | None, Decimal]:
    """The position after ``fill`` and the gross P&L the fill realized."""
    held = position.quantity if position is not None else 0
    delta = fill.signed_quantity
    if position is None or held * delta > 0:
        total = held + delta
        cost = (
            position.avg_price * abs(held) if position is not None else ZERO
        ) + fill.price * abs(delta)
        return Position(fill.symbol, total, cost / abs(total)), ZERO
    closed = min(abs(delta), abs(held))
    sign = 1 if held > 0 else -1
    realized = (fill.price - position.avg_price) * closed * sign
    left = held + delta
    if left == 0:
        return None, realized
    if left * held > 0:
        return Position(fill.symbol, left, position.avg_price), realized
    return Position(fill.symbol, left, fill.price), realized


def positions_from(fills: Iterable[Fill]) -> dict[str, Position]:
    """Net open positions after applying ``fills`` in order."""
    book: dict[str, Position] = {}
    for fill in fills:
        after, _ = apply_fill(book.get(fill.symbol), fill)
        if after is None:
            book.pop(fill.symbol, None)
        else:
            book[fill.symbol] = after
    return book


def realized_pnl(fills: Iterable[Fill]) -> Decimal:
    """Net realized P&L of ``fills``: gross realized minus every commission paid."""
    book: dict[str, Position] = {}
    total = ZERO
    for fill in fills:
        after, gained = apply_fill(book.get(fill.symbol), fill)
        total += gained - fill.commission
        if after is None:
            book.pop(fill.symbol, None)
        else:
            book[fill.symbol] = after
    return total


def unrealized_pnl(positions: Iterable[Position], prices: Mapping[str, Decimal]) -> Decimal:
    """Open P&L at ``prices``; a position without a price counts at its average (zero)."""
    return sum(
        (p.unrealized(prices.get(p.symbol, p.avg_price)) for p in positions),
        ZERO,
    )


@dataclass(slots=True)
class _Open:
    side: Side
    opened_at: datetime
    size: int
    gross: Decimal
    commission: Decimal


def round_trips(fills: Iterable[Fill]) -> list[RoundTrip]:
    """Completed flat-to-flat trades, in the order they closed."""
    book: dict[str, Position] = {}
    opened: dict[str, _Open] = {}
    done: list[RoundTrip] = []
    for fill in fills:
        before = book.get(fill.symbol)
        after, gained = apply_fill(before, fill)
        trip = opened.get(fill.symbol)
        if trip is None:
            trip = _Open(
                Side.LONG if fill.signed_quantity > 0 else Side.SHORT, fill.at, 0, ZERO, ZERO
            )
            opened[fill.symbol] = trip
        trip.gross += gained
        trip.commission += fill.commission
        if before is None or (after is not None and after.quantity * before.quantity > 0):
            trip.size = max(trip.size, abs(after.quantity) if after is not None else 0)
        if after is None or (before is not None and after.quantity * before.quantity < 0):
            done.append(
                RoundTrip(
                    fill.symbol,
                    trip.side,
                    trip.size,
                    trip.opened_at,
                    fill.at,
                    trip.gross,
                    trip.commission,
                )
            )
            del opened[fill.symbol]
            if after is not None:
                opened[fill.symbol] = _Open(after.side, fill.at, abs(after.quantity), ZERO, ZERO)
        if after is None:
            book.pop(fill.symbol, None)
        else:
            book[fill.symbol] = after
    return done

"""Orders, fills, positions and the account, as the broker port speaks them.

A ``BracketOrder`` is one entry (a stop order at the breakout level) with two exit legs: a
stop-loss and a take-profit. Its ``client_order_id`` is derived from the plan or job key, so
sending it twice can never open two positions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from finagent.domain.market import Side
from finagent.domain.money import ZERO

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from decimal import Decimal

    from finagent.domain.planning import TradePlan

__all__ = [
    "MAX_CLIENT_ORDER_ID",
    "Account",
    "BracketOrder",
    "BrokerOrder",
    "CloseResult",
    "Fill",
    "FillKind",
    "OrderSide",
    "OrderStatus",
    "Position",
    "bracket_for",
    "client_id_prefix",
    "client_order_id",
    "duplicate_orders",
]

MAX_CLIENT_ORDER_ID = 48
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OrderSide(StrEnum):
    """The side of one order (a long entry buys, its exits sell)."""

    BUY = "buy"
    SELL = "sell"

    @classmethod
    def entering(cls, side: Side) -> OrderSide:
        """The order side that opens a position of ``side``."""
        return cls.BUY if side is Side.LONG else cls.SELL

    @classmethod
    def exiting(cls, side: Side) -> OrderSide:
        """The order side that closes a position of ``side``."""
        return cls.SELL if side is Side.LONG else cls.BUY


class OrderStatus(StrEnum):
    """Where a bracket is: working entry, open position, done, or never filled."""

    PENDING = "pending"
    FILLED = "filled"
    CLOSED = "closed"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        """True while the broker still works the order or one of its legs."""
        return self in (OrderStatus.PENDING, OrderStatus.FILLED)


class FillKind(StrEnum):
    """Which part of a bracket a fill belongs to."""

    ENTRY = "entry"
    STOP = "stop"
    TARGET = "target"
    CLOSE = "close"


def client_id_prefix(key_prefix: str) -> str:
    """What every client id made from keys starting with ``key_prefix`` starts with.

    ``client_order_id`` keeps a key's safe characters in front (also when it shortens it), so
    the prefix of ``execute:2026-03-02:`` keys is ``execute_2026-03-02_``.
    """
    return _UNSAFE.sub("_", key_prefix)


def duplicate_orders(orders: Sequence[BrokerOrder], prefix: str) -> int:
    """Orders beyond the first per symbol among the broker's orders whose client id has
    ``prefix`` (one session's): a symbol submitted under a second client id, or one client
    id listed twice, each count once."""
    ours = [o for o in orders if o.client_order_id.startswith(prefix)]
    ids = {o.client_order_id for o in ours}
    by_symbol: dict[str, set[str]] = {}
    for o in ours:
        by_symbol.setdefault(o.symbol, set()).add(o.client_order_id)
    resent = sum(len(cids) - 1 for cids in by_symbol.values())
    return (len(ours) - len(ids)) + resent


def client_order_id(key: str) -> str:
    """A broker-safe id of at most 48 characters, the same for the same key.

    Safe characters are kept; a key that is too long keeps a readable prefix and ends with
    a 16-hex-digit SHA-256 digest of the whole key, so distinct keys stay distinct.
    """
    if not key:
        raise ValueError("an order key must not be empty")
    safe = _UNSAFE.sub("_", key)
    if len(safe) <= MAX_CLIENT_ORDER_ID and safe == key:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{safe[: MAX_CLIENT_ORDER_ID - 17]}-{digest}"


@dataclass(frozen=True, slots=True)
class BracketOrder:
    """Enter ``side`` with a stop order at ``entry``; exit at ``stop_loss`` or ``take_profit``."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: int
    entry: Decimal
    stop_loss: Decimal
    take_profit: Decimal

    def __post_init__(self) -> None:
        if len(self.client_order_id) > MAX_CLIENT_ORDER_ID or not self.client_order_id:
            raise ValueError("client_order_id must be 1 to 48 characters")
        if self.quantity <= 0:
            raise ValueError("quantity must be positive")
        sign = self.side.sign
        if not (self.stop_loss - self.entry) * sign < 0 < (self.take_profit - self.entry) * sign:
            raise ValueError("bracket needs stop_loss and take_profit on opposite sides of entry")

    @property
    def notional(self) -> Decimal:
        """Entry price times quantity."""
        return self.entry * self.quantity


def bracket_for(plan: TradePlan, quantity: int, key: str | None = None) -> BracketOrder:
    """The bracket for an approved plan; ``key`` (e.g. the job key) defaults to the plan key."""
    return BracketOrder(
        client_order_id=client_order_id(key or plan.key),
        symbol=plan.symbol,
        side=plan.side,
        quantity=quantity,
        entry=plan.entry,
        stop_loss=plan.stop,
        take_profit=plan.target,
    )


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """The broker's view of a bracket: its status, fills so far, and how it ended."""

    order: BracketOrder
    broker_id: str
    status: OrderStatus
    submitted_at: datetime
    filled_quantity: int = 0
    filled_price: Decimal | None = None
    filled_at: datetime | None = None
    exit_price: Decimal | None = None
    exit_kind: FillKind | None = None
    closed_at: datetime | None = None
    #: what the entry fill, and the exit fills, paid in commission (0 where the broker charges none)
    entry_commission: Decimal = ZERO
    exit_commission: Decimal = ZERO

    @property
    def client_order_id(self) -> str:
        """The caller's idempotency id."""
        return self.order.client_order_id

    @property
    def symbol(self) -> str:
        """The ticker."""
        return self.order.symbol


@dataclass(frozen=True, slots=True)
class Fill:
    """An execution: ``quantity`` shares at ``price`` on ``side``, with its commission."""

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: int
    price: Decimal
    at: datetime
    kind: FillKind
    commission: Decimal = ZERO

    @property
    def signed_quantity(self) -> int:
        """Positive for a buy, negative for a sell."""
        return self.quantity if self.side is OrderSide.BUY else -self.quantity


@dataclass(frozen=True, slots=True)
class Position:
    """A net position: ``quantity`` > 0 is long, < 0 is short; never 0."""

    symbol: str
    quantity: int
    avg_price: Decimal

    @property
    def side(self) -> Side:
        """Long or short."""
        return Side.LONG if self.quantity > 0 else Side.SHORT

    def market_value(self, last: Decimal) -> Decimal:
        """Signed value at ``last``."""
        return last * self.quantity

    def notional(self, last: Decimal) -> Decimal:
        """Gross exposure at ``last`` (always >= 0)."""
        return abs(last * self.quantity)

    def unrealized(self, last: Decimal) -> Decimal:
        """Open profit or loss at ``last``."""
        return (last - self.avg_price) * self.quantity


@dataclass(frozen=True, slots=True)
class Account:
    """Equity and buying power as the broker reports them."""

    equity: Decimal
    cash: Decimal
    buying_power: Decimal
    last_equity: Decimal

    @property
    def day_pnl(self) -> Decimal:
        """Today's change in equity."""
        return self.equity - self.last_equity


@dataclass(frozen=True, slots=True)
class CloseResult:
    """The outcome of closing one symbol: the closing fill, or why it failed."""

    symbol: str
    ok: bool
    fill: Fill | None = None
    error: str | None = None

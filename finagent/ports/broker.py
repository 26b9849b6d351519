"""The Broker port: bracket orders in, orders, positions and the account out.

Two capabilities, joined as ``Broker``: ``OrderEntry`` (idempotent by ``client_order_id``) and
``AccountView`` (positions, closing them, equity). Errors are ``finagent.domain.errors``;
``BrokerUnavailable`` means the outcome is unknown: look the order up by its client id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from finagent.domain.orders import Account, BracketOrder, BrokerOrder, CloseResult, Position

__all__ = ["AccountView", "Broker", "OrderEntry"]


class OrderEntry(Protocol):
    """Place, find and cancel bracket orders."""

    async def submit(self, order: BracketOrder) -> BrokerOrder:
        """Place a bracket. A client_order_id the broker knows returns that order, never a second.

        Raises:
            OrderRejected: (or a subclass) the broker refused it; nothing was placed.
            BrokerUnavailable: the outcome is unknown.
        """
        ...

    async def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client id, or None if the broker never accepted one."""
        ...

    async def cancel(self, client_order_id: str) -> BrokerOrder:
        """Cancel a working entry; an order past that point is returned unchanged.

        Raises:
            OrderNotFound: no order has this client id.
        """
        ...

    async def open_orders(self) -> Sequence[BrokerOrder]:
        """Orders still working: pending entries and filled brackets whose exits are live."""
        ...

    async def orders_since(self, since: datetime) -> Sequence[BrokerOrder]:
        """Every order submitted at or after ``since``, whatever its status: the broker's record.

        What the daily report counts duplicate orders from: an order resent under another
        client id is in this list even though finagent never looks it up by that id.
        """
        ...


class AccountView(Protocol):
    """Positions, flattening, and the account's equity."""

    async def positions(self) -> Sequence[Position]:
        """Open net positions, one per symbol."""
        ...

    async def close(self, symbol: str) -> CloseResult:
        """Cancel the symbol's working orders and flatten its position at the market."""
        ...

    async def close_all(self) -> Sequence[CloseResult]:
        """Cancel every working order and flatten every position; one result per symbol."""
        ...

    async def account(self) -> Account:
        """Equity, cash and buying power now."""
        ...


class Broker(OrderEntry, AccountView, Protocol):
    """Everything execution needs from a broker."""

"""Trading errors. Adapters translate library and wire errors into these at the edge.

TradingError
├── BrokerError                    the broker refused or could not be reached
│   ├── OrderRejected(reason)      a definitive "no": the order does not exist at the broker
│   │   ├── InsufficientBuyingPower
│   │   ├── PatternDayTrader       the PDT rule blocked a day trade
│   │   └── DuplicateClientOrderId the id is taken (callers look the order up instead)
│   ├── OrderNotFound              no order with that client_order_id
│   └── BrokerUnavailable          timeout / 5xx / disconnect: the outcome is UNKNOWN;
│                                  reconcile with ``order_by_client_id`` before retrying
└── MarketDataError
    └── MarketDataUnavailable      the feed could not answer now; retry later
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "BrokerUnavailable",
    "DuplicateClientOrderId",
    "InsufficientBuyingPower",
    "MarketDataError",
    "MarketDataUnavailable",
    "OrderNotFound",
    "OrderRejected",
    "PatternDayTrader",
    "TradingError",
]


class TradingError(Exception):
    """Base of every trading error."""


class BrokerError(TradingError):
    """The broker refused a request or could not be reached."""


class OrderRejected(BrokerError):
    """The broker definitively refused the order; ``reason`` says why."""

    def __init__(self, reason: str, client_order_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.client_order_id = client_order_id


class InsufficientBuyingPower(OrderRejected):
    """Not enough buying power for the order's notional."""


class PatternDayTrader(OrderRejected):
    """The pattern-day-trader rule blocked the order (equity under the floor)."""


class DuplicateClientOrderId(OrderRejected):
    """An order with this client_order_id exists already."""


class OrderNotFound(BrokerError):
    """No order has this client_order_id."""


class BrokerUnavailable(BrokerError):
    """The call failed in a way that leaves its outcome unknown (timeout, 5xx, disconnect)."""


class MarketDataError(TradingError):
    """The market data or news feed failed."""


class MarketDataUnavailable(MarketDataError):
    """The feed could not answer now; the caller may retry."""

"""finagent's exception tree. Adapters translate library and wire errors into these at the edge.

Every error finagent raises on purpose derives from :class:`FinagentError`; each layer's own
errors hang under the branch that says what they mean, so a caller catches a meaning, never a
library (``sqlite3``, ``httpx``, ``redis``)::

FinagentError
├── ConfigError                     settings, schedule or start-up choices that cannot work;
│   │                               one line naming the key, exit 2 (settings, app)
│   └── ScheduleError               a schedule entry or calendar setting (domain.schedule)
├── PayloadError                    a job payload that does not fit its type (domain.wire)
├── QueueError                      a queue request that could not be applied (domain.jobs)
│   ├── JobNotFoundError, LeaseLostError
│   └── QueueUnavailableError       the backend could not be reached (domain.jobs);
│       └── RedisUnavailableError   Redis's (adapters.redis)
├── StorageError                    the database file cannot be used or written (adapters.sqlite)
│   └── StorageUnavailableError     it cannot commit now (disk full, I/O error, locked past the
│                                   busy timeout, read-only): transient, not a job's failure
├── LeadershipLostError             the scheduler's leader lock expired (adapters.redis)
├── PermanentJobError               a job that can never succeed: dead at once, no retry
├── NotifyError                     a notification was not delivered now: retried with back-off
│   └── NotifyRejected              refused for good (a 4xx, an unusable URL); also a
│                                   PermanentJobError, so its job goes dead at once
└── TradingError
    ├── BrokerError                 the broker refused or could not be reached
    │   ├── OrderRejected(reason)   a definitive "no": the order does not exist at the broker
    │   │   ├── InsufficientBuyingPower
    │   │   ├── PatternDayTrader    the PDT rule blocked a day trade
    │   │   └── DuplicateClientOrderId  the id is taken (callers look the order up instead)
    │   ├── OrderNotFound           no order with that client_order_id
    │   ├── BrokerUnavailable       timeout / 5xx / disconnect: the outcome is UNKNOWN;
    │   │                           reconcile with ``order_by_client_id`` before retrying
    │   └── (adapters.alpaca: BrokerAuthError, LiveTradingNotConfirmed)
    ├── MarketDataError
    │   ├── MarketDataUnavailable   the feed could not answer now; retry later
    │   └── (adapters.alpaca: MarketDataAuthError)
    └── ReconciliationError         our book and the broker's disagree at start (domain.reconcile)
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "BrokerUnavailable",
    "ConfigError",
    "DuplicateClientOrderId",
    "FinagentError",
    "InsufficientBuyingPower",
    "LeadershipLostError",
    "MarketDataError",
    "MarketDataUnavailable",
    "NotifyError",
    "NotifyRejected",
    "OrderNotFound",
    "OrderRejected",
    "PatternDayTrader",
    "PermanentJobError",
    "ReconciliationError",
    "StorageError",
    "StorageUnavailableError",
    "TradingError",
]


class FinagentError(Exception):
    """Base of every error finagent raises on purpose."""


class ConfigError(FinagentError):
    """A settings or start-up choice that cannot work; one line naming the key at fault."""


class StorageError(FinagentError):
    """The database file cannot be used or written; the message is one line naming the file."""


class StorageUnavailableError(StorageError):
    """The store cannot commit now; ``reason`` names the fault (``disk full``, ``I/O error``...).

    An infrastructure fault, not a bug: the writer keeps the batch and retries it, a job's
    attempts are not spent on it, and trading is ``degraded`` until a commit succeeds again.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class LeadershipLostError(FinagentError):
    """The leader lock expired (or was taken) while its holder ran."""


class PermanentJobError(FinagentError):
    """A job that no retry can make succeed: the stage fails it as not retryable (dead)."""


class NotifyError(FinagentError):
    """A notification was not delivered now (5xx, timeout, refused connection): retry later."""


class NotifyRejected(NotifyError, PermanentJobError):
    """The destination refused the notification for good (a 4xx other than 408/429)."""


class TradingError(FinagentError):
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


class ReconciliationError(TradingError):
    """Our book and the broker's disagree beyond the tolerance: refuse to trade."""


class MarketDataError(TradingError):
    """The market data or news feed failed."""


class MarketDataUnavailable(MarketDataError):
    """The feed could not answer now; the caller may retry."""

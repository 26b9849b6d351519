"""Reconcile with the broker before execution sends anything, on every (re)start, for any broker.

Our book is today's approved ``execute`` jobs (the durable queue's record of what we sent), each
looked up at the broker by its client order id; the broker's book is its open orders and
positions. :func:`finagent.domain.reconcile.reconcile` compares them; a position mismatch
stops execution (``ReconciliationError``) until someone looks.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, final
from zoneinfo import ZoneInfo

from finagent.domain.orders import BrokerOrder, OrderStatus, Position, client_order_id
from finagent.domain.pnl import positions_from
from finagent.domain.reconcile import Reconciliation, reconcile, require_consistent
from finagent.services.reporter import fills_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from datetime import datetime

    from finagent.domain.job_types import JobPayload
    from finagent.domain.jobs import Job, NewJob
    from finagent.ports.broker import Broker
    from finagent.ports.trading import TradingRecords
    from finagent.services.stage import JobHandler

__all__ = [
    "Book",
    "ReconcilingExecution",
    "reconcile_with_broker",
    "session_day",
    "trail_book",
]

log = logging.getLogger(__name__)

#: our open orders and the net positions their fills imply
Book = tuple["Sequence[BrokerOrder]", "Sequence[Position]"]


async def reconcile_with_broker(
    broker: Broker,
    our_orders: Sequence[BrokerOrder],
    our_positions: Sequence[Position],
    tolerance_shares: int = 0,
) -> Reconciliation:
    """Fetch the broker's open orders and positions and reconcile ours against them."""
    broker_orders = await broker.open_orders()
    broker_positions = await broker.positions()
    return reconcile(our_orders, our_positions, broker_orders, broker_positions, tolerance_shares)


def trail_book(
    records: TradingRecords, broker: Broker, today: Callable[[], str]
) -> Callable[[], Awaitable[Book]]:
    """Our book: today's approved ``execute`` jobs, their orders as the broker has them."""

    async def book() -> Book:
        orders: list[BrokerOrder] = []
        for t in await records.session_jobs(today()):
            if t.type == "execute" and t.payload.get("approved"):
                found = await broker.order_by_client_id(client_order_id(t.key))
                if found is not None:
                    orders.append(found)
        fills = sorted((f for o in orders for f in fills_of(o)), key=lambda f: f.at)
        positions = sorted(positions_from(fills).values(), key=lambda p: p.symbol)
        return [o for o in orders if o.status is OrderStatus.PENDING], positions

    return book


def session_day(now: Callable[[], datetime], tz: str) -> Callable[[], str]:
    """Today's session date (ISO) in the exchange's zone, from a clock's ``now``."""
    zone = ZoneInfo(tz)
    return lambda: now().astimezone(zone).date().isoformat()


@final
class ReconcilingExecution:
    """The execution stage's handler, reconciled with the broker at every (re)start."""

    def __init__(
        self,
        inner: JobHandler,
        broker: Broker,
        book: Callable[[], Awaitable[Book]],
        tolerance_shares: int = 0,
    ) -> None:
        self._inner = inner
        self._broker = broker
        self._book = book
        self._tolerance = tolerance_shares
        self.last: Reconciliation | None = None

    async def start(self) -> None:
        """Reconcile; a position mismatch raises ``ReconciliationError`` (no trading)."""
        orders, positions = await self._book()
        result = await reconcile_with_broker(self._broker, orders, positions, self._tolerance)
        self.last = result
        log.info("reconciled with the broker: %s", result.summary())
        require_consistent(result)
        await self._inner.start()

    async def handle(self, job: Job, payload: JobPayload) -> Sequence[NewJob]:
        """Delegate to the execution handler."""
        return await self._inner.handle(job, payload)

"""The trading switch: follows the operator's kill switch and the account, once a second.

Owns the in-memory :class:`TradingSwitch` risk and execution read. Receives nothing. Polls the
control row (``finagent halt`` / ``resume``) every ``poll_s``: a new state applies at once,
and a flatten request becomes a ``flatten:halt:<n>`` job (idempotent by key). Every
``account_s`` it reads the broker for fills and realized P&L (metrics). Restart: permanent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast, final

import trio

from actors import ReplyTo
from finagent.domain.jobs import NewJob
from finagent.domain.orders import OrderStatus
from finagent.domain.risk import TradingState
from finagent.ports.trading import (
    Control,
    GetCursor,
    GetReport,
    JobTrail,
    PutCursor,
    PutReport,
    ReadControl,
    SessionJobs,
)
from finagent.services.persistence import WriteRequest

if TYPE_CHECKING:
    from collections.abc import Mapping

    from actors import ActorContext
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.clock import Clock
    from finagent.ports.queue import JobQueue, StoreOp
    from finagent.ports.trading import TradingOp, TradingRecords

__all__ = ["StoredScheduleCursor", "TradingSwitch", "TradingWatch", "WriterRecords"]

log = logging.getLogger(__name__)

_METRIC_STATE = {
    TradingState.ACTIVE: "trading",
    TradingState.REDUCING: "flattening",
    TradingState.HALTED: "halted",
}


@final
class TradingSwitch:
    """The state every order decision reads (ACTIVE until the control row says otherwise)."""

    def __init__(self) -> None:
        self.state = TradingState.ACTIVE
        self.flatten_seq = 0
        self.loaded = False


@final
class TradingWatch:
    """Polls the kill switch and the broker. Receives nothing. Restart: permanent."""

    def __init__(
        self,
        switch: TradingSwitch,
        records: TradingRecords,
        queue: JobQueue,
        broker: Broker,
        clock: Clock,
        *,
        metrics: Metrics | None = None,
        poll_s: float = 1.0,
        account_s: float = 60.0,
    ) -> None:
        self._switch = switch
        self._records = records
        self._queue = queue
        self._broker = broker
        self._clock = clock
        self._metrics = metrics
        self._poll_s = poll_s
        self._account_s = account_s
        self._filled: set[str] = set()

    async def run(self, ctx: ActorContext[object]) -> None:
        """Poll until the supervisor asks to stop."""
        next_account = 0.0
        while not ctx.stopping.is_set():
            await self.poll()
            now = trio.current_time()
            if now >= next_account:
                next_account = now + self._account_s
                await self.follow_account()
            with trio.move_on_after(self._poll_s):
                await ctx.stopping.wait()

    async def poll(self) -> None:
        """Apply the control row: the state, and a new flatten request as a flatten job."""
        control = await self._records.control()
        switch = self._switch
        state = TradingState(control.state)
        if state is not switch.state or not switch.loaded:
            if switch.loaded or state is not TradingState.ACTIVE:
                log.warning("trading state %s -> %s", switch.state, state)
            switch.state = state
            if self._metrics is not None:
                self._metrics.trading_state.state(_METRIC_STATE[state])
        if switch.loaded and control.flatten_seq > switch.flatten_seq:
            log.warning("flatten requested by the operator (request %d)", control.flatten_seq)
            now = self._clock.now()
            await self._queue.enqueue(
                [NewJob("flatten", f"flatten:halt:{control.flatten_seq}", {"at": now.isoformat()})]
            )
        switch.flatten_seq = control.flatten_seq
        switch.loaded = True

    async def follow_account(self) -> None:
        """Count new fills and closes, and refresh the realized P&L gauge."""
        account = await self._broker.account()
        listed = await self._broker.open_orders()
        for order in listed:
            if order.status is OrderStatus.FILLED and order.client_order_id not in self._filled:
                self._filled.add(order.client_order_id)
                self._count(order.order.side.value, "filled")
        # An order off the open list never comes back: forget it, or the set grows every session.
        self._filled.intersection_update(o.client_order_id for o in listed)
        if self._metrics is not None:
            self._metrics.realized_pnl.set(float(account.day_pnl))

    def _count(self, side: str, status: str) -> None:
        if self._metrics is not None:
            self._metrics.orders.labels(side, status).inc()


@final
class WriterRecords:
    """TradingRecords over the persistence actor's mailbox: the single writer applies them."""

    def __init__(self, mailbox: trio.MemorySendChannel[Any]) -> None:
        self._mailbox = mailbox

    async def _ask(self, op: TradingOp) -> Any:
        send, receive = trio.open_memory_channel[tuple[Any, BaseException | None]](1)
        with receive:
            # The writer's store handles trading ops next to StoreOp (SqliteTradingStore).
            request = WriteRequest(cast("StoreOp", op), ReplyTo(send))
            await self._mailbox.send(request)
            value, exc = await receive.receive()
        if exc is not None:
            raise exc
        return value

    async def control(self) -> Control:
        """The control row."""
        return cast("Control", await self._ask(ReadControl()))

    async def put_report(self, session_date: str, report: Mapping[str, Any]) -> None:
        """Store a daily report."""
        await self._ask(PutReport(session_date, report))

    async def report(self, session_date: str) -> Mapping[str, Any] | None:
        """A stored daily report, or None."""
        return cast("Mapping[str, Any] | None", await self._ask(GetReport(session_date)))

    async def session_jobs(self, session_date: str) -> list[JobTrail]:
        """The session's jobs."""
        return cast("list[JobTrail]", await self._ask(SessionJobs(session_date)))

    async def cursor(self) -> float | None:
        """The scheduler's cursor (epoch seconds), or None."""
        return cast("float | None", await self._ask(GetCursor()))

    async def save_cursor(self, handled: float) -> None:
        """Store the scheduler's cursor."""
        await self._ask(PutCursor(handled))


@final
class StoredScheduleCursor:
    """The scheduler's ``ScheduleCursor`` in the job database, written by the single writer."""

    def __init__(self, records: WriterRecords) -> None:
        self._records = records

    async def load(self) -> datetime | None:
        """The last handled fire time, or None if the scheduler never ran on this database."""
        handled = await self._records.cursor()
        return None if handled is None else datetime.fromtimestamp(handled, UTC)

    async def save(self, handled: datetime) -> None:
        """Record that every firing up to ``handled`` was fired or skipped."""
        await self._records.save_cursor(handled.timestamp())

"""The trading switch: follows the operator's kill switch and the account, once a second.

Owns the in-memory :class:`TradingSwitch` risk and execution read. Receives nothing. Polls the
control row (``finagent halt`` / ``resume``) every ``poll_s``: a new state applies at once,
and a flatten request becomes a ``flatten:halt:<n>`` job (idempotent by key). Each change of
the row (and the first poll) is acknowledged with an ``Applied`` record, so the command that
asked can tell the daemon obeyed. Every ``account_s`` (10 s) it reads the broker for fills
and exits (one log line each) and the realized P&L gauge. Restart: permanent.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast, final

import trio

from actors import ReplyTo
from finagent.domain.errors import StorageError
from finagent.domain.jobs import NewJob
from finagent.domain.notify import Notice
from finagent.domain.orders import FillKind, OrderSide, OrderStatus
from finagent.domain.risk import TradingState
from finagent.ports.trading import (
    Applied,
    Control,
    GetCursor,
    GetReport,
    JobTrail,
    PutApplied,
    PutCursor,
    PutReport,
    ReadControl,
    SessionJobs,
)
from finagent.services.persistence import WriteRequest

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from actors import ActorContext
    from finagent.domain.errors import StorageUnavailableError
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.clock import Clock
    from finagent.ports.queue import JobQueue, StoreOp
    from finagent.ports.trading import AppliedRecords, TradingOp, TradingRecords
    from finagent.services.market_hours import MarketHours
    from finagent.services.notifier import Notices

__all__ = ["StoredScheduleCursor", "TradingSwitch", "TradingWatch", "WriterRecords"]

log = logging.getLogger(__name__)

_METRIC_STATE = {
    TradingState.ACTIVE: "trading",
    TradingState.REDUCING: "flattening",
    TradingState.HALTED: "halted",
    TradingState.DEGRADED: "degraded",
}


@final
class TradingSwitch:
    """The state every order decision reads (ACTIVE until the control row says otherwise).

    ``chosen`` is the operator's state (the control row); ``degraded`` the storage fault's
    reason while the store cannot commit; ``held`` a fault's reason that lasts until a
    restart (Redis came back without finagent's data). ``state`` combines them: DEGRADED
    replaces ACTIVE only (REDUCING and HALTED already send no new entries), and when a storage
    fault ends the chosen state applies again by itself.
    """

    def __init__(self) -> None:
        self.chosen = TradingState.ACTIVE
        self.degraded: str | None = None
        self.held: str | None = None
        self.flatten_seq = 0
        self.loaded = False

    @property
    def state(self) -> TradingState:
        """What orders may do now."""
        faulted = self.degraded is not None or self.held is not None
        if faulted and self.chosen is TradingState.ACTIVE:
            return TradingState.DEGRADED
        return self.chosen

    @state.setter
    def state(self, state: TradingState) -> None:
        self.chosen = state

    def hold(self, reason: str) -> None:
        """Hold new entries until a restart (a fault the daemon cannot see the end of)."""
        self.held = reason


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
        account_s: float = 10.0,
        acks: AppliedRecords | None = None,
        wall: Callable[[], float] = time.time,
        notices: Notices | None = None,
        market_hours: MarketHours | None = None,
    ) -> None:
        self._notices = notices
        self._switch = switch
        self._records = records
        self._queue = queue
        self._broker = broker
        self._clock = clock
        self._metrics = metrics
        self._poll_s = poll_s
        self._account_s = account_s
        self._filled: set[str] = set()
        self._acks = acks
        self._wall = wall  # the operator's clock (not the sim's): when the change was applied
        self._acked: tuple[float, int, str, str | None] | None = None
        self._market_hours = market_hours

    async def run(self, ctx: ActorContext[object]) -> None:
        """Poll until the supervisor asks to stop."""
        next_account = 0.0
        while not ctx.stopping.is_set():
            await self.poll()
            self.show_market()
            ctx.started()  # the trading state is loaded (the first poll; later calls: no-op)
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
        if state is not switch.chosen or not switch.loaded:
            if switch.loaded or state is not TradingState.ACTIVE:
                log.warning("trading state %s -> %s", switch.chosen, state)
                self._notify(f"{state}:{control.updated_at}", switch.chosen, state, "the operator")
            switch.chosen = state
            self._show_state()
        if switch.loaded and control.flatten_seq > switch.flatten_seq:
            log.warning("flatten requested by the operator (request %d)", control.flatten_seq)
            now = self._clock.now()
            await self._queue.enqueue(
                [NewJob("flatten", f"flatten:halt:{control.flatten_seq}", {"at": now.isoformat()})]
            )
        switch.flatten_seq = control.flatten_seq
        switch.loaded = True
        await self._acknowledge(control)

    async def _acknowledge(self, control: Control) -> None:
        """Record what was applied, once per change of the row, state or hold."""
        switch = self._switch
        fault = switch.held or switch.degraded  # why new entries are held, if a fault does
        key = (control.updated_at, control.flatten_seq, switch.state.value, fault)
        if self._acks is None or key == self._acked:
            return
        applied = Applied(
            switch.state.value, control.flatten_seq, control.updated_at, os.getpid(),
            self._wall(), fault,
        )  # fmt: skip
        try:
            await self._acks.record_applied(applied)
        except StorageError as exc:  # the state is applied; only its receipt is late
            log.warning("cannot record the applied trading state (retrying): %s", exc)
            return
        self._acked = key

    def on_store(self, fault: StorageUnavailableError | None) -> None:
        """The store's fault began (trading degraded) or ended (the chosen state again).

        ``StoreHealth`` logs the one line about it; this only switches and shows the state.
        """
        before = self._switch.state
        self._switch.degraded = None if fault is None else fault.reason
        self._show_state()
        why = "the store commits again" if fault is None else f"the store cannot commit: {fault}"
        self._notify(f"store:{self._clock.timestamp():.0f}", before, self._switch.state, why)

    def on_held(self, reason: str) -> None:
        """A fault holds new entries until a restart (trading degraded); its owner logs it."""
        before = self._switch.state
        self._switch.hold(reason)
        self._show_state()
        self._notify(f"held:{self._clock.timestamp():.0f}", before, self._switch.state, reason)

    def _notify(self, key: str, before: TradingState, after: TradingState, why: str) -> None:
        if self._notices is not None and before is not after:
            self._notices.emit(Notice.trading_state(key, before, after, why))

    def show_market(self) -> None:
        """Set ``finagent_market_open`` from the calendar and the daemon's clock."""
        if self._metrics is not None and self._market_hours is not None:
            self._metrics.market_open.set(int(self._market_hours.is_open(self._clock.now())))

    def _show_state(self) -> None:
        if self._metrics is not None:
            self._metrics.trading_state.state(_METRIC_STATE[self._switch.state])

    async def follow_account(self) -> None:
        """Log and count new fills and exits, and refresh the realized P&L gauge.

        The broker's brackets fill and exit on their own; this poll (every ``account_s``) is
        where the daemon learns of it, so the P&L gauge is updated in the same pass.
        """
        account = await self._broker.account()
        working = {o.client_order_id: o for o in await self._broker.open_orders()}
        for cid, order in working.items():
            if order.status is OrderStatus.FILLED and cid not in self._filled:
                self._filled.add(cid)
                self._count(order.order.side.value, "filled")
                o = order.order
                log.info("fill %s %s %d @ %s %s", o.symbol, o.side, o.quantity,
                         order.filled_price, cid)  # fmt: skip
        for cid in sorted(self._filled - working.keys()):  # filled before, not working now
            self._filled.discard(cid)  # forgotten once ended: the set holds open brackets only
            ended = await self._broker.order_by_client_id(cid)
            # a close (time stop, flatten) is logged by execution, which made it
            if ended is not None and ended.exit_kind in (FillKind.STOP, FillKind.TARGET):
                o, kind = ended.order, ended.exit_kind.value
                log.info("exit %s %s %d @ %s %s (%s)", o.symbol, OrderSide.exiting(o.side),
                         o.quantity, ended.exit_price, cid, kind)  # fmt: skip
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
        reply_to: ReplyTo[Any] = ReplyTo()
        # The writer's store handles trading ops next to StoreOp (SqliteTradingStore).
        await self._mailbox.send(WriteRequest(cast("StoreOp", op), reply_to))
        return await reply_to.wait()

    async def control(self) -> Control:
        """The control row."""
        return cast("Control", await self._ask(ReadControl()))

    async def record_applied(self, applied: Applied) -> None:
        """Record what this daemon applied of the control row."""
        await self._ask(PutApplied(applied))

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

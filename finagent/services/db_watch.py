"""The database watch, and stopping safely at the broker when the daemon cannot go on.

``DatabaseWatch`` owns nothing durable. Receives nothing. Every ``poll_s`` it asks the
``StoreIdentity`` whether the database path still names the file the daemon opened; once it
does not (deleted, replaced), it halts new entries, logs one ERROR line, counts the fault and
asks the daemon to stop (:class:`FatalStop`). Restart: permanent.

:func:`stop_safely` is what the daemon runs once its tree is down, before it exits on such a
fault: it cancels every working entry and closes every symbol with a filled bracket, through
the Broker port only, so safety at the broker never depends on the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

import trio

from finagent.domain.errors import BrokerError
from finagent.domain.orders import OrderStatus

if TYPE_CHECKING:
    from actors import ActorContext
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.storage import StoreIdentity
    from finagent.services.trading_state import TradingSwitch

__all__ = ["DatabaseWatch", "FatalStop", "SafeStop", "stop_safely"]

log = logging.getLogger(__name__)


@final
class FatalStop:
    """A fault the daemon cannot run through: set once with its reason; the daemon stops on it."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.requested = trio.Event()

    def request(self, reason: str) -> None:
        """Ask the daemon to stop safely; the first reason wins."""
        if self.reason is None:
            self.reason = reason
            self.requested.set()


@final
class DatabaseWatch:
    """Polls the database file's identity. Receives nothing. Restart: permanent."""

    def __init__(
        self,
        identity: StoreIdentity,
        switch: TradingSwitch,
        stop: FatalStop,
        *,
        metrics: Metrics | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self._identity = identity
        self._switch = switch
        self._stop = stop
        self._metrics = metrics
        self._poll_s = poll_s

    async def run(self, ctx: ActorContext[object]) -> None:
        """Check now and every ``poll_s`` until the file moves or the supervisor stops us."""
        ctx.started()
        while not ctx.stopping.is_set():
            if self.check():
                break
            with trio.move_on_after(self._poll_s):
                await ctx.stopping.wait()
        await ctx.stopping.wait()  # a fault was reported: the daemon stops us next

    def check(self) -> bool:
        """Report a moved database file once; True when it moved."""
        reason = self._identity.changed()
        if reason is None:
            return False
        self._switch.hold(reason)  # degraded: no new entries while the tree stops
        log.error("%s: no new entries; stopping safely at the broker", reason)
        if self._metrics is not None:
            fault = "deleted" if "deleted" in reason else "replaced"
            self._metrics.database_faults.labels(fault).inc()
        self._stop.request(reason)
        return True


@dataclass(frozen=True, slots=True)
class SafeStop:
    """What :func:`stop_safely` did at the broker, and what it could not do."""

    canceled: tuple[str, ...]
    closed: tuple[str, ...]
    failed: tuple[str, ...]


async def stop_safely(broker: Broker) -> SafeStop:
    """Cancel every working entry and close every symbol holding a filled bracket.

    Each call's failure is logged and named in ``failed``; the rest still go out.
    """
    canceled: list[str] = []
    failed: list[str] = []
    held: set[str] = set()
    try:
        orders = await broker.open_orders()
    except BrokerError as exc:
        log.error("stop safely: cannot list open orders at the broker: %s", exc)
        return SafeStop((), (), ("open_orders",))
    for order in orders:
        if order.status is not OrderStatus.PENDING:
            held.add(order.symbol)
            continue
        try:
            await broker.cancel(order.client_order_id)
            canceled.append(order.client_order_id)
        except BrokerError as exc:
            log.error("stop safely: cannot cancel %s: %s", order.client_order_id, exc)
            failed.append(order.client_order_id)
    closed: list[str] = []
    for symbol in sorted(held):
        try:
            result = await broker.close(symbol)
        except BrokerError as exc:
            result_error: str | None = str(exc)
        else:
            result_error = None if result.ok else result.error
        if result_error is None:
            closed.append(symbol)
        else:
            log.error("stop safely: cannot close %s: %s", symbol, result_error)
            failed.append(symbol)
    log.warning(
        "stopped safely at the broker: canceled %d working entr%s, closed %d symbol(s)%s",
        len(canceled), "y" if len(canceled) == 1 else "ies", len(closed),
        f", {len(failed)} failed" if failed else "",
        extra={"canceled": canceled, "closed": closed, "failed": failed},
    )  # fmt: skip
    return SafeStop(tuple(canceled), tuple(closed), tuple(failed))

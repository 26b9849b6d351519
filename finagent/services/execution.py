"""Execution: send approved brackets once, follow them, and close them in time.

Owns nothing durable: the execute job is the order intent (stored before anything is sent) and
the broker holds the orders. Receives ``execute``, ``time_stop`` and ``flatten`` jobs. Emits a
delayed ``time_stop:<date>:<symbol>`` job per order sent. Restart: permanent.

Rules:
- ``client_order_id`` derives from the execute job key (<= 48 chars), so a re-run can never
  open a second position.
- On every start it reconciles with the broker (open orders, positions) before sending.
- Before any submit it asks ``order_by_client_id``: an order the broker has is adopted, never
  resent. After an unknown outcome (``BrokerUnavailable``) it asks again; still unknown fails
  the job for a retry.
- No entry goes out unless the trading state allows it (``risk.may_submit``) and the plan's
  time stop is still ahead. Closing (time stop, flatten) is never blocked.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, final

from finagent.domain.errors import BrokerUnavailable, OrderRejected
from finagent.domain.job_types import ExecuteJob, FlattenJob, PayloadError, TimeStopJob
from finagent.domain.notify import Notice
from finagent.domain.orders import BracketOrder, BrokerOrder, OrderStatus, bracket_for
from finagent.domain.pipeline import time_stop_key
from finagent.domain.risk import RejectCode, may_submit

if TYPE_CHECKING:
    from collections.abc import Sequence

    from finagent.domain.job_types import JobPayload
    from finagent.domain.jobs import Job, NewJob
    from finagent.domain.orders import CloseResult
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.clock import Clock
    from finagent.services.notifier import Notices
    from finagent.services.trading_state import TradingSwitch

__all__ = ["Executor", "log_close"]

log = logging.getLogger(__name__)


@final
class Executor:
    """JobHandler for ``execute``, ``time_stop`` and ``flatten``."""

    def __init__(
        self,
        broker: Broker,
        clock: Clock,
        switch: TradingSwitch,
        metrics: Metrics | None = None,
        *,
        notices: Notices | None = None,
    ) -> None:
        self._broker = broker
        self._clock = clock
        self._switch = switch
        self._metrics = metrics
        self._notices = notices
        self.reconciled = 0

    async def start(self) -> None:
        """Log what the broker holds; the reconciliation itself wraps this handler.

        ``finagent.services.reconciliation.ReconcilingExecution`` compares our book with the
        broker's and refuses to start on a position mismatch before this runs.
        """
        orders = await self._broker.open_orders()
        positions = await self._broker.positions()
        self.reconciled += 1
        log.info(
            "execution reconciled: %d open order(s), %d position(s) at the broker",
            len(orders),
            len(positions),
            extra={"open_orders": [o.client_order_id for o in orders]},
        )

    async def handle(self, job: Job, payload: JobPayload) -> Sequence[NewJob]:
        """Dispatch on the payload's type; any other type is refused (the job goes to dead)."""
        match payload:
            case ExecuteJob():
                return await self._execute(job, payload)
            case TimeStopJob():
                await self._time_stop(payload)
            case FlattenJob():
                await self._flatten(job)
            case _:
                raise PayloadError(f"execution does not take {job.type} jobs")
        return []

    async def _execute(self, job: Job, d: ExecuteJob) -> Sequence[NewJob]:
        if not d.decision.approved:
            return self._notify(*_refusals(job.key, d))
        plan = d.plan
        order = bracket_for(plan, d.decision.quantity, job.key)
        found = await self._broker.order_by_client_id(order.client_order_id)
        notices: list[NewJob] = []
        if found is not None:
            log.info(
                "adopting %s: the broker already has it (%s)", found.client_order_id, found.status
            )
        else:
            now = self._clock.now()
            if not may_submit(self._switch.state, reduces_exposure=False):
                log.warning(
                    "not sending %s: trading is %s", order.client_order_id, self._switch.state
                )
                return []
            if now >= plan.time_stop_at:
                log.warning("not sending %s: its time stop has passed", order.client_order_id)
                return []
            sent = await self._submit(order.client_order_id, order)
            if isinstance(sent, OrderRejected):
                return self._notify(
                    Notice.order_rejected(job.key, plan.symbol, "the broker", sent.reason)
                )
            found = sent
            notices = self._notify(Notice.order_submitted(
                sent.client_order_id, order.side.value, order.quantity, order.symbol,
                order.entry, order.stop_loss, order.take_profit,
            ))  # fmt: skip
        stop = TimeStopJob(d.session, plan.symbol, found.client_order_id)
        run_at = plan.time_stop_at.timestamp()
        return [stop.job(time_stop_key(d.session, plan.symbol), run_at=run_at), *notices]

    def _notify(self, *notices: Notice) -> list[NewJob]:
        return [] if self._notices is None else self._notices.jobs(*notices)

    async def _submit(self, cid: str, order: BracketOrder) -> BrokerOrder | OrderRejected:
        try:
            sent = await self._broker.submit(order)
        except OrderRejected as exc:
            log.warning("broker rejected %s: %s", cid, exc)
            self._count(order.side.value, "rejected")
            return exc
        except BrokerUnavailable:
            known = await self._broker.order_by_client_id(cid)
            if known is None:
                raise
            sent = known
        log.info(
            "submit %s %s %d @ %s (stop %s, target %s) %s",
            order.symbol, order.side, order.quantity, order.entry, order.stop_loss,
            order.take_profit, cid,
        )  # fmt: skip
        self._count(order.side.value, "submitted")
        return sent

    async def _time_stop(self, stop: TimeStopJob) -> None:
        cid = stop.client_order_id
        if cid is not None:
            order = await self._broker.order_by_client_id(cid)
            if order is not None and order.status.is_open:
                result = await self._broker.close(order.symbol)
                log_close("time stop", result, cid)
                self._count(order.order.side.value, "time_stop")
            return
        # The scheduled sweep: no new positions this late, cancel every working entry.
        for order in await self._broker.open_orders():
            if order.status is OrderStatus.PENDING:
                await self._broker.cancel(order.client_order_id)
                o = order.order
                log.info(
                    "cancel %s %s %d @ %s %s (time stop: no new entries this late)",
                    o.symbol, o.side, o.quantity, o.entry, o.client_order_id,
                )  # fmt: skip
                self._count(order.order.side.value, "canceled")

    async def _flatten(self, job: Job) -> None:
        results = await self._broker.close_all()
        for result in results:
            log_close("flatten", result, job.key)
        closed = [r.symbol for r in results if r.ok]
        log.info(
            "flatten (%s): closed %d symbol(s)", job.key, len(closed), extra={"closed": closed}
        )

    def _count(self, side: str, status: str) -> None:
        if self._metrics is not None:
            self._metrics.orders.labels(side, status).inc()


def _refusals(key: str, d: ExecuteJob) -> list[Notice]:
    """What a refused plan tells the operator: why risk said no, and a daily loss limit hit."""
    why = "; ".join(f"{r.code}: {r.detail}" for r in d.decision.reasons) or "not approved"
    out = [Notice.order_rejected(key, d.plan.symbol, "risk", why)]
    for r in d.decision.reasons:
        if r.code is RejectCode.DAILY_LOSS:
            out.append(Notice.loss_limit(d.session.date.isoformat(), r.detail))
    return out


def log_close(why: str, result: CloseResult, ref: str) -> None:
    """One line for a close: the exit fill (symbol, side, qty, price, client id) or why not."""
    fill = result.fill
    if fill is not None:
        log.info(
            "exit %s %s %d @ %s %s (%s)",
            fill.symbol, fill.side, fill.quantity, fill.price, fill.client_order_id, why,
        )  # fmt: skip
    elif result.ok:
        log.info("%s %s: no position to close (%s)", why, result.symbol, ref)
    else:
        log.warning("%s %s: close failed: %s (%s)", why, result.symbol, result.error, ref)

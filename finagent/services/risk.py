"""The risk guard: approve or reject every plan of the session against the risk profile.

Owns nothing durable. Receives the ``risk:<date>`` job. Emits one ``execute:<date>:<symbol>``
job per plan carrying the decision (approved with a share count, or rejected with every
reason), so the decision is stored with the job that completes. Plans are assessed in rank
order against a book that grows with each approval, so limits hold across the session.
Restart: permanent.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, final

from finagent.domain.job_types import ExecuteJob, RiskJob, payload_as
from finagent.domain.orders import OrderStatus, bracket_for
from finagent.domain.pipeline import execute_key
from finagent.domain.risk import Book, RiskProfile, assess

if TYPE_CHECKING:
    from collections.abc import Sequence

    from finagent.domain.job_types import JobPayload
    from finagent.domain.jobs import Job, NewJob
    from finagent.ports.broker import Broker
    from finagent.ports.clock import Clock
    from finagent.services.trading_state import TradingSwitch

__all__ = ["RiskGuard", "book_from"]

log = logging.getLogger(__name__)


async def book_from(broker: Broker, switch: TradingSwitch) -> Book:
    """The account, positions and working entries as the broker reports them now."""
    account = await broker.account()
    orders = await broker.open_orders()
    return Book(
        equity=account.equity,
        buying_power=account.buying_power,
        day_pnl=account.day_pnl,
        positions=tuple(await broker.positions()),
        pending=tuple(o.order for o in orders if o.status is OrderStatus.PENDING),
        recent_orders=tuple(o.submitted_at for o in orders),
        state=switch.state,
    )


@final
class RiskGuard:
    """JobHandler for ``risk``: ``risk.assess`` per plan → one execute job per decision."""

    def __init__(
        self, broker: Broker, profile: RiskProfile, clock: Clock, switch: TradingSwitch
    ) -> None:
        self._broker = broker
        self._profile = profile
        self._clock = clock
        self._switch = switch

    async def start(self) -> None:
        """Nothing to recover: the book is read from the broker per job."""

    async def handle(self, job: Job, payload: JobPayload) -> Sequence[NewJob]:
        """Assess each plan; an approval adds its bracket to the book the next plan sees."""
        risk_job = payload_as(payload, RiskJob)
        session = risk_job.session
        book = await book_from(self._broker, self._switch)
        now = self._clock.now()
        out: list[NewJob] = []
        for plan in risk_job.plans:
            decision = assess(plan, book, self._profile, now)
            key = execute_key(session, plan.symbol)
            if decision.approved:
                book = replace(
                    book,
                    pending=(*book.pending, bracket_for(plan, decision.quantity, key)),
                    recent_orders=(*book.recent_orders, now),
                    state=decision.state,
                )
                log.info("risk approved %s: %d shares", plan.key, decision.quantity)
            else:
                log.info("risk rejected %s: %s", plan.key, ", ".join(decision.codes))
            out.append(ExecuteJob(session, plan, decision).job(key))
        return out

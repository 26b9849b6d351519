"""The planner: opening-range-breakout plans for the ranked candidates.

Owns nothing. Receives the ``plan:<date>`` job (due at open + range). Emits one ``risk:<date>``
job with every plan drawn and the symbols left without one. Restart: permanent.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, final

from finagent.domain.job_types import PlanJob, RiskJob, payload_as
from finagent.domain.pipeline import stage_key
from finagent.domain.planning import PlanRules, TradePlan, plan_trade

if TYPE_CHECKING:
    from collections.abc import Sequence

    from finagent.domain.job_types import JobPayload
    from finagent.domain.jobs import Job, NewJob
    from finagent.ports.market import MarketData

__all__ = ["Planner"]

log = logging.getLogger(__name__)


@final
class Planner:
    """JobHandler for ``plan``: opening-range bars → ``planning.plan_trade`` → one risk job."""

    def __init__(self, market: MarketData, rules: PlanRules) -> None:
        self._market = market
        self._rules = rules

    async def start(self) -> None:
        """Nothing to recover."""

    async def handle(self, job: Job, payload: JobPayload) -> Sequence[NewJob]:
        """Draw a plan per ranked candidate, in rank order."""
        plan_job = payload_as(payload, PlanJob)
        session = plan_job.session
        range_end = session.open + timedelta(minutes=self._rules.range_minutes)
        plans: list[TradePlan] = []
        unplanned: list[str] = []
        for candidate in plan_job.ranked:
            bars = await self._market.minute_bars(candidate.symbol, session.open, range_end)
            plan = plan_trade(candidate, bars, self._rules, session)
            if plan is None:
                unplanned.append(candidate.symbol)
            else:
                plans.append(plan)
        log.info("plans %s: %d drawn, %d without a plan", session.date, len(plans), len(unplanned))
        return [RiskJob(session, tuple(plans), tuple(unplanned)).job(stage_key("risk", session))]

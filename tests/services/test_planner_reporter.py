"""Planner and Reporter on the fakes: a candidate without a plan, an order the broker lost."""

from __future__ import annotations

from datetime import UTC, datetime

from finagent.domain.job_types import PlanJob, RiskJob, decode_payload
from finagent.domain.jobs import Job, JobStatus
from finagent.domain.orders import bracket_for, client_order_id
from finagent.domain.pipeline import stage_key
from finagent.domain.planning import PlanRules
from finagent.ports.trading import Control, JobTrail
from finagent.services.planner import Planner
from finagent.services.reporter import Reporter
from tests.domain.trading_helpers import SESSION, candidate, long_plan, range_bars
from tests.fakes import FakeBroker, FakeClock, FakeMarket


def _job(job_type: str, key: str) -> Job:
    return Job(1, job_type, key, {}, JobStatus.RUNNING, 1, 3, 0.0, 0.0, 0.0, lease_owner="w")


async def test_a_candidate_without_opening_range_bars_is_listed_as_unplanned() -> None:
    market = FakeMarket(["ABC", "XYZ"])
    for b in range_bars(symbol="ABC"):
        market.add_bar(b)  # XYZ has no opening-range bars: no plan can be drawn
    ranked = (candidate(symbol="ABC"), candidate(symbol="XYZ"))
    plan_job = PlanJob(SESSION, ranked)
    (out,) = await Planner(market, PlanRules()).handle(_job("plan", "plan:x"), plan_job)
    risk = decode_payload(out.type, out.payload)
    assert isinstance(risk, RiskJob)
    assert out.key == stage_key("risk", SESSION)
    assert [p.symbol for p in risk.plans] == ["ABC"]
    assert risk.unplanned == ("XYZ",)


class _Records:
    """TradingRecords holding one session's trail in memory."""

    def __init__(self, trail: list[JobTrail]) -> None:
        self.trail = trail
        self.reports: dict[str, dict[str, object]] = {}

    async def control(self) -> Control:
        return Control()

    async def put_report(self, session_date: str, report: dict[str, object]) -> None:
        self.reports[session_date] = dict(report)

    async def session_jobs(self, session_date: str) -> list[JobTrail]:
        return self.trail


async def test_an_approved_entry_the_broker_has_no_order_for_is_left_out_of_the_orders() -> None:
    day = SESSION.date.isoformat()
    broker = FakeBroker(FakeClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC)))
    plan = long_plan()
    sent_key, lost_key = f"execute:{day}:ABC", f"execute:{day}:XYZ"
    await broker.submit(bracket_for(plan, 10, sent_key))
    trail = [
        JobTrail("execute", key, "done", 1, {"approved": True}, 0.0, 0.0, 1.0, None)
        for key in (sent_key, lost_key)
    ]
    records = _Records(trail)
    report = await Reporter(broker, records).report(day)
    assert [o["client_order_id"] for o in report["orders"]] == [client_order_id(sent_key)]
    assert report["approved"] == 2
    assert records.reports[day] == report

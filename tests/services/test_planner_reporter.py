"""Planner and Reporter on the fakes: a candidate without a plan, an order the broker lost."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from finagent.adapters.sim.paper_broker import open_paper_broker
from finagent.domain.job_types import PlanJob, ReportJob, RiskJob, decode_payload
from finagent.domain.jobs import Job, JobStatus
from finagent.domain.orders import (
    BrokerOrder,
    OrderStatus,
    bracket_for,
    client_id_prefix,
    client_order_id,
    duplicate_orders,
)
from finagent.domain.pipeline import stage_key
from finagent.domain.planning import PlanRules
from finagent.observability import Metrics
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


async def test_an_order_resent_under_a_second_id_is_counted_from_the_brokers_records(
    tmp_path, caplog
) -> None:
    day = SESSION.date.isoformat()
    clock = FakeClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
    plan = long_plan()
    key = f"execute:{day}:ABC"
    trail = [
        JobTrail("execute", key, "done", 1, {"approved": True}, 0.0, 0.0, 1.0, None),
        JobTrail("report", f"report:{day}", "running", 1, {}, 0.0, 0.0, None, None),
    ]
    records = _Records(trail)
    metrics = Metrics(process_collectors=False)
    caplog.set_level(logging.INFO, "finagent.services.reporter")
    async with open_paper_broker(tmp_path / "paper.db", FakeMarket(["ABC"]), clock) as broker:
        await broker.submit(bracket_for(plan, 10, key))
        await broker.submit(bracket_for(plan, 10, key))  # the same id again: one order
        await broker.submit(bracket_for(plan, 10, f"{key}:resent"))  # a second id: a duplicate
        await broker.submit(bracket_for(plan, 10, "execute:2026-03-09:ABC"))  # another session
        reporter = Reporter(broker, records, metrics=metrics)
        await reporter.handle(_job("report", f"report:{day}"), ReportJob(SESSION))
    report = records.reports[day]
    assert len(report["orders"]) == 1  # the report's lookups by its own ids never see the resend
    assert report["duplicate_orders"] == 1
    assert metrics.registry.get_sample_value("finagent_duplicate_orders") == 1
    assert report["jobs"] == {"done": 2}  # the report job building it is not "running"
    (line,) = [r for r in caplog.records if r.levelno == logging.INFO]
    assert line.getMessage() == (
        f"daily report {day}: 0 candidate(s) (top -), 0 plan(s), 1 approved, 1 order(s),"
        " 0 fill(s), 1 duplicate(s), P&L 0.00"
    )


def test_duplicates_are_a_second_client_id_per_symbol_or_one_id_listed_twice() -> None:
    clock = FakeClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
    plan = long_plan()

    def order(cid: str, symbol: str = "ABC") -> BrokerOrder:
        bracket = replace(bracket_for(plan, 10, cid), symbol=symbol)
        return BrokerOrder(bracket, cid, OrderStatus.PENDING, clock.now())

    prefix = client_id_prefix("execute:2026-03-10:")
    assert prefix == "execute_2026-03-10_"
    a, b = order("execute_2026-03-10_ABC"), order("execute_2026-03-10_ABC_2")
    other = order("execute_2026-03-10_XYZ", "XYZ")
    assert duplicate_orders([a, other], prefix) == 0
    assert duplicate_orders([a, b, other], prefix) == 1
    assert duplicate_orders([a, a], prefix) == 1
    assert duplicate_orders([a, order("manual-ABC")], prefix) == 0  # not finagent's

"""Executor on the FakeBroker: entries it refuses, rejections, unknown outcomes, time stops."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from finagent.domain.errors import BrokerUnavailable, OrderRejected
from finagent.domain.job_types import ExecuteJob, TimeStopJob
from finagent.domain.jobs import Job, JobStatus
from finagent.domain.market import Session, Side
from finagent.domain.orders import BracketOrder, BrokerOrder, OrderStatus, bracket_for
from finagent.domain.pipeline import execute_key, time_stop_key
from finagent.domain.planning import TradePlan
from finagent.domain.risk import RiskDecision, TradingState
from finagent.observability import Metrics
from finagent.services.execution import Executor
from finagent.services.trading_state import TradingSwitch
from tests.fakes import FakeBroker, FakeClock

OPEN = datetime(2025, 1, 6, 14, 30, tzinfo=UTC)
SESSION = Session(OPEN.date(), OPEN, OPEN + timedelta(hours=6, minutes=30))
TIME_STOP_AT = OPEN + timedelta(hours=2)


def _plan(symbol: str = "ABC") -> TradePlan:
    return TradePlan(
        f"20250106-{symbol}-long", symbol, Side.LONG, Decimal("10.00"), Decimal("9.50"),
        Decimal("11.00"), OPEN + timedelta(minutes=5), TIME_STOP_AT,
        SESSION.close - timedelta(minutes=5),
        "opening_range",
    )  # fmt: skip


def _execute(symbol: str = "ABC", quantity: int = 100) -> tuple[Job, ExecuteJob]:
    plan = _plan(symbol)
    decision = RiskDecision(plan.key, True, quantity, (), TradingState.ACTIVE)
    payload = ExecuteJob(SESSION, plan, decision)
    return _job("execute", execute_key(SESSION, symbol)), payload


def _job(job_type: str, key: str) -> Job:
    return Job(1, job_type, key, {}, JobStatus.RUNNING, 1, 3, 0.0, 0.0, 0.0, lease_owner="w")


def _orders(metrics: Metrics, side: str, status: str) -> float | None:
    return metrics.registry.get_sample_value(
        "finagent_orders_total", {"side": side, "status": status}
    )


async def test_an_entry_whose_time_stop_has_passed_is_not_sent(caplog) -> None:
    clock = FakeClock(TIME_STOP_AT)
    broker = FakeBroker(clock)
    job, payload = _execute()
    with caplog.at_level(logging.WARNING, "finagent.services.execution"):
        out = await Executor(broker, clock, TradingSwitch()).handle(job, payload)
    assert out == []
    assert broker.submitted == []
    assert "its time stop has passed" in caplog.text


class _RejectingBroker(FakeBroker):
    async def submit(self, order: BracketOrder) -> BrokerOrder:
        self.submitted.append(order)
        raise OrderRejected("symbol not tradable", order.client_order_id)


async def test_a_rejected_entry_is_counted_and_schedules_no_time_stop(caplog) -> None:
    clock = FakeClock(OPEN + timedelta(minutes=6))
    broker = _RejectingBroker(clock)
    metrics = Metrics(process_collectors=False)
    job, payload = _execute()
    with caplog.at_level(logging.WARNING, "finagent.services.execution"):
        out = await Executor(broker, clock, TradingSwitch(), metrics).handle(job, payload)
    assert out == []  # the job completes: a rejection is final, not retried
    assert len(broker.submitted) == 1 and broker.orders == {}
    assert _orders(metrics, "long", "rejected") == 1
    assert _orders(metrics, "long", "submitted") is None
    assert "broker rejected" in caplog.text and "symbol not tradable" in caplog.text


class _LostReplyBroker(FakeBroker):
    """Takes the order, then the reply is lost: the outcome looks unknown to the caller."""

    async def submit(self, order: BracketOrder) -> BrokerOrder:
        await super().submit(order)
        raise BrokerUnavailable("read timeout")


async def test_an_unknown_outcome_found_at_the_broker_is_adopted_with_its_time_stop() -> None:
    clock = FakeClock(OPEN + timedelta(minutes=6))
    broker = _LostReplyBroker(clock)
    metrics = Metrics(process_collectors=False)
    job, payload = _execute()
    (stop,) = await Executor(broker, clock, TradingSwitch(), metrics).handle(job, payload)
    cid = bracket_for(payload.plan, 100, job.key).client_order_id
    assert len(broker.submitted) == 1  # asked again by client id, never resent
    assert list(broker.orders) == [cid]
    assert stop.type == "time_stop" and stop.key == time_stop_key(SESSION, "ABC")
    assert stop.run_at == TIME_STOP_AT.timestamp()
    assert stop.payload["client_order_id"] == cid
    assert _orders(metrics, "long", "submitted") == 1


async def test_the_sweep_cancels_working_entries_and_leaves_filled_ones() -> None:
    clock = FakeClock(OPEN + timedelta(minutes=6))
    broker = FakeBroker(clock)
    metrics = Metrics(process_collectors=False)
    executor = Executor(broker, clock, TradingSwitch(), metrics)
    for symbol in ("ABC", "XYZ"):
        await executor.handle(*_execute(symbol))
    (abc, xyz) = broker.orders
    broker.fill_entry(xyz)
    clock.set(TIME_STOP_AT)
    out = await executor.handle(_job("time_stop", "time_stop:sweep"), TimeStopJob(SESSION))
    assert out == []
    assert broker.canceled == [abc]
    assert broker.orders[abc].status is OrderStatus.CANCELED
    assert broker.orders[xyz].status is OrderStatus.FILLED
    assert _orders(metrics, "long", "canceled") == 1


@pytest.mark.parametrize("state", ["unknown", "closed"])
async def test_a_time_stop_for_an_order_that_is_not_open_closes_nothing(state: str) -> None:
    clock = FakeClock(OPEN + timedelta(minutes=6))
    broker = FakeBroker(clock)
    executor = Executor(broker, clock, TradingSwitch())  # no metrics: nothing to count
    job, payload = _execute()
    (stop_job,) = await executor.handle(job, payload)
    cid = stop_job.payload["client_order_id"]
    if state == "closed":
        await broker.cancel(cid)
    else:
        cid = "never-sent"
    stop = TimeStopJob(SESSION, "ABC", cid)
    assert await executor.handle(_job("time_stop", stop_job.key), stop) == []
    assert broker.closed == []


async def test_a_time_stop_closes_an_open_order_and_counts_it() -> None:
    clock = FakeClock(OPEN + timedelta(minutes=6))
    broker = FakeBroker(clock)
    metrics = Metrics(process_collectors=False)
    executor = Executor(broker, clock, TradingSwitch(), metrics)
    job, payload = _execute()
    (stop_job,) = await executor.handle(job, payload)
    cid = stop_job.payload["client_order_id"]
    broker.fill_entry(cid)
    stop = TimeStopJob(SESSION, "ABC", cid)
    await executor.handle(_job("time_stop", stop_job.key), stop)
    assert broker.closed == ["ABC"]
    assert broker.orders[cid].status is OrderStatus.CLOSED
    assert _orders(metrics, "long", "time_stop") == 1


async def test_one_info_line_per_submit_cancel_and_exit_with_symbol_side_qty_price_and_id(
    caplog,
) -> None:
    from dataclasses import replace

    from finagent.domain.job_types import FlattenJob
    from finagent.domain.orders import CloseResult
    from finagent.services.execution import log_close

    clock = FakeClock(OPEN + timedelta(minutes=6))
    broker = FakeBroker(clock)
    executor = Executor(broker, clock, TradingSwitch())
    caplog.set_level(logging.INFO, "finagent.services.execution")
    for symbol in ("ABC", "XYZ"):
        await executor.handle(*_execute(symbol))
    abc, xyz = broker.orders
    broker.fill_entry(xyz, Decimal("10.05"))
    broker.prices["XYZ"] = Decimal("10.40")
    clock.set(TIME_STOP_AT)
    await executor.handle(_job("time_stop", "time_stop:sweep"), TimeStopJob(SESSION))
    await executor.handle(_job("flatten", "flatten:x"), FlattenJob())
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert lines[:4] == [
        f"submit ABC long 100 @ 10.00 (stop 9.50, target 11.00) {abc}",
        f"submit XYZ long 100 @ 10.00 (stop 9.50, target 11.00) {xyz}",
        f"cancel ABC long 100 @ 10.00 {abc} (time stop: no new entries this late)",
        f"exit XYZ sell 100 @ 10.40 {xyz} (flatten)",
    ]
    caplog.clear()
    log_close("flatten", CloseResult("ABC", ok=True), "flatten:y")
    log_close("flatten", replace(CloseResult("ABC", ok=False), error="refused"), "flatten:y")
    assert [r.getMessage() for r in caplog.records] == [
        "flatten ABC: no position to close (flatten:y)",
        "flatten ABC: close failed: refused (flatten:y)",
    ]


def test_a_plan_refused_for_the_daily_loss_limit_also_raises_the_loss_limit_notice():
    from finagent.domain.notify import NoticeKind
    from finagent.domain.risk import RejectCode, RiskReason
    from finagent.services.execution import _refusals

    plan = _plan("XYZ")
    reasons = (
        RiskReason(RejectCode.DAILY_LOSS, "day P&L -2100.00 <= -2000.00"),
        RiskReason(RejectCode.MAX_POSITIONS, "5 open >= 5"),
    )
    refused = ExecuteJob(SESSION, plan, RiskDecision(plan.key, False, 0, reasons,
                                                     TradingState.ACTIVE))  # fmt: skip
    notices = _refusals("execute:2025-01-06:XYZ", refused)
    assert [(n.kind, n.key) for n in notices] == [
        (NoticeKind.ORDER_REJECTED, "rejected:execute:2025-01-06:XYZ"),
        (NoticeKind.LOSS_LIMIT, "loss_limit:2025-01-06"),  # once a session: keyed by the day
    ]
    assert notices[0].body == (
        "daily_loss: day P&L -2100.00 <= -2000.00; max_positions: 5 open >= 5"
    )
    approved_for_nothing = ExecuteJob(SESSION, plan, RiskDecision(plan.key, False, 0, (),
                                                                  TradingState.ACTIVE))  # fmt: skip
    (only,) = _refusals("k", approved_for_nothing)
    assert only.kind is NoticeKind.ORDER_REJECTED and only.body == "not approved"

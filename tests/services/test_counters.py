"""The counters where they can be wrong: enqueues made by anyone, latency of delayed jobs."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import trio

from finagent.adapters.clocks import VirtualClock
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.adapters.sqlite.state import SqliteTradingStore, set_control
from finagent.domain.jobs import Job, JobStatus, NewJob, QueuePolicy
from finagent.domain.schedule import DEFAULT_JOB_TYPES, EntryValues
from finagent.observability import Metrics
from finagent.services.counting import CountingQueue
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest
from finagent.services.schedule_plan import compile_entries
from finagent.services.scheduler import Scheduler
from finagent.services.stage import Stage
from finagent.services.trading_state import TradingSwitch, TradingWatch, WriterRecords
from tests.fakes import FakeBroker

NY = ZoneInfo("America/New_York")
ENTRIES = {
    "premarket_scan": EntryValues("scan", at="open-30m", grace_s=1500),
    "time_stop": EntryValues("time_stop", at="close-30m", grace_s=900),
    "flatten": EntryValues("flatten", at="close-5m", grace_s=240),
    "daily_report": EntryValues("report", at="close+5m", grace_s=6 * 3600),
}


def _enqueued(metrics: Metrics, job_type: str) -> float:
    value = metrics.registry.get_sample_value("finagent_jobs_enqueued_total", {"type": job_type})
    return value or 0.0


@asynccontextmanager
async def _counted(path, clock, metrics):
    store = SqliteTradingStore.open(path)
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, QueuePolicy(), clock.timestamp, inline=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        queue = CountingQueue(PersistentJobQueue(send), metrics.count_enqueued, clock.timestamp)
        yield queue, WriterRecords(send)
        nursery.cancel_scope.cancel()
    store.close()


async def test_scheduler_made_jobs_are_counted_once_even_when_fired_again(autojump_clock, tmp_path):
    metrics = Metrics(process_collectors=False)
    clock = VirtualClock(datetime(2026, 11, 25, 8, 55, tzinfo=NY))
    entries = compile_entries(
        ENTRIES, known_job_types=DEFAULT_JOB_TYPES, exchange_tz="America/New_York"
    )
    xnys = XcalsExchangeCalendar("XNYS")
    async with _counted(tmp_path / "q.db", clock, metrics) as (queue, _):
        # Two schedulers without a cursor: the second fires the same keys again (a restart).
        first = Scheduler(entries, xnys, clock, queue)
        second = Scheduler(entries, xnys, clock, queue)
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: first.serve(task_status=task_status))
            await clock.sleep_until(datetime(2026, 11, 25, 9, 5, tzinfo=NY))
            await nursery.start(lambda task_status: second.serve(task_status=task_status))
            await clock.sleep_until(datetime(2026, 11, 25, 16, 30, tzinfo=NY))
            nursery.cancel_scope.cancel()
        stats = await queue.stats()
    stored = {t: n for (t, _), n in stats.counts.items()}
    for job_type in ("scan", "time_stop", "flatten", "report"):
        assert _enqueued(metrics, job_type) == stored[job_type] == 1


async def test_halt_flatten_and_stage_outputs_are_counted_but_a_known_key_is_not(tmp_path):
    metrics = Metrics(process_collectors=False)
    clock = VirtualClock(datetime(2026, 11, 25, 15, 0, tzinfo=NY))
    path = tmp_path / "q.db"
    async with _counted(path, clock, metrics) as (queue, records):
        watch = TradingWatch(TradingSwitch(), records, queue, FakeBroker(clock), clock)
        await watch.poll()  # loads the control row
        set_control(path, "halted", flatten=True, now=clock.timestamp())
        await watch.poll()  # the operator's flatten becomes a job
        (job,) = await queue.claim(["flatten"], 1, "w")
        out = [NewJob("report", "report:x"), NewJob("scan", "scan:x")]
        await queue.complete(job.id, "w", out)
        await queue.enqueue([NewJob("report", "report:x")])  # a known key: no new job
    assert _enqueued(metrics, "flatten") == 1
    assert _enqueued(metrics, "report") == 1
    assert _enqueued(metrics, "scan") == 1


async def test_a_job_from_an_earlier_process_is_not_counted_again(tmp_path):
    metrics = Metrics(process_collectors=False)
    path = tmp_path / "q.db"
    before = VirtualClock(datetime(2026, 11, 25, 15, 0, tzinfo=NY))
    async with _counted(path, before, Metrics(process_collectors=False)) as (queue, _):
        await queue.enqueue([NewJob("scan", "scan:before")])
    # A restarted daemon's wrapper has seen no id yet; the stored job is older than its call.
    after = VirtualClock(datetime(2026, 11, 25, 15, 1, tzinfo=NY))
    async with _counted(path, after, metrics) as (queue, _):
        await queue.enqueue([NewJob("scan", "scan:before")])
    assert _enqueued(metrics, "scan") == 0


class _NoOutputs:
    async def start(self) -> None:
        pass

    async def handle(self, job, payload):
        return []


class _Settles:
    async def complete(self, job_id, owner, outputs=()):
        return []


@pytest.mark.parametrize("wait_s", [35 * 60.0, 6 * 3600.0])
async def test_a_delayed_job_lands_in_a_latency_bucket_and_its_wait_is_shown(wait_s) -> None:
    metrics = Metrics(process_collectors=False)
    created = 1_000_000.0
    due = created + wait_s  # a plan waits 35 min for the opening range, a time stop hours
    job = Job(1, "flatten", "flatten:x", {}, JobStatus.RUNNING, 1, 3, due, created, due, "w")
    stage = Stage(_NoOutputs(), _Settles(), lambda: due + 0.4, metrics=metrics)
    await stage.process(job)

    def bucket(name: str, le: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"type": "flatten", "le": le})

    assert bucket("finagent_job_latency_seconds_bucket", "0.5") == 1  # not +Inf: 0.4 s late
    assert bucket("finagent_job_latency_seconds_bucket", "0.25") == 0
    wait_sum = metrics.registry.get_sample_value(
        "finagent_job_wait_seconds_sum", {"type": "flatten"}
    )
    assert wait_sum == wait_s


async def test_the_watch_logs_each_fill_and_bracket_exit_and_follows_realized_pnl(caplog):
    from dataclasses import replace
    from datetime import UTC
    from decimal import Decimal

    from finagent.domain.market import Side
    from finagent.domain.orders import BracketOrder, FillKind, OrderStatus
    from tests.fakes import FakeClock

    clock = FakeClock(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))
    broker = FakeBroker(clock)
    metrics = Metrics(process_collectors=False)
    watch = TradingWatch(TradingSwitch(), None, None, broker, clock, metrics=metrics)
    caplog.set_level(logging.INFO, "finagent.services.trading_state")
    for cid, symbol in (("c-abc", "ABC"), ("c-xyz", "XYZ")):
        bracket = BracketOrder(cid, symbol, Side.LONG, 10, Decimal(10), Decimal(9), Decimal(12))
        await broker.submit(bracket)
        broker.fill_entry(cid, Decimal("10.00"))
    await watch.follow_account()
    await watch.follow_account()  # a fill is logged once
    abc = broker.orders["c-abc"]
    broker.orders["c-abc"] = replace(  # the broker's take-profit leg filled
        abc, status=OrderStatus.CLOSED, exit_price=Decimal(12), exit_kind=FillKind.TARGET,
        closed_at=clock.now(),
    )  # fmt: skip
    await broker.close("XYZ")  # execution's close: execution logs it, not the watch
    await watch.follow_account()
    assert [r.getMessage() for r in caplog.records] == [
        "fill ABC long 10 @ 10.00 c-abc",
        "fill XYZ long 10 @ 10.00 c-xyz",
        "exit ABC sell 10 @ 12 c-abc (target)",
    ]
    assert metrics.registry.get_sample_value("finagent_realized_pnl") == float(
        (await broker.account()).day_pnl
    )


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        (datetime(2026, 11, 28, 11, 0, tzinfo=NY), 0),  # a Saturday
        (datetime(2026, 11, 25, 9, 29, tzinfo=NY), 0),  # a minute before the open
        (datetime(2026, 11, 25, 9, 30, tzinfo=NY), 1),  # the open
        (datetime(2026, 11, 25, 15, 59, tzinfo=NY), 1),
        (datetime(2026, 11, 25, 16, 0, tzinfo=NY), 0),  # the close
        (datetime(2026, 11, 27, 13, 30, tzinfo=NY), 0),  # after the early close (13:00)
    ],
)
async def test_market_open_follows_the_calendar_and_the_daemons_clock(when, is_open):
    from finagent.services.market_hours import MarketHours

    metrics = Metrics(process_collectors=False)
    clock = VirtualClock(when)
    hours = MarketHours(XcalsExchangeCalendar("XNYS"))
    watch = TradingWatch(TradingSwitch(), None, None, None, clock, metrics=metrics,
                         market_hours=hours)  # fmt: skip
    watch.show_market()
    assert metrics.registry.get_sample_value("finagent_market_open") == is_open
    assert hours.is_open(when) == bool(is_open)  # the second call uses the day's cached sessions


async def test_a_lease_renewed_through_the_counting_queue_is_the_writers_answer_uncounted(
    autojump_clock, tmp_path
):
    metrics = Metrics(process_collectors=False)
    clock = VirtualClock(datetime(2026, 11, 25, 9, 0, tzinfo=NY))
    async with _counted(tmp_path / "q.db", clock, metrics) as (queue, _):
        [job] = await queue.enqueue([NewJob("report", "report:2026-11-25")])
        [claimed] = await queue.claim(["report"], 1, "worker-a")
        assert claimed.id == job.id
        assert await queue.extend(job.id, "worker-a") is True
        assert await queue.extend(job.id, "worker-b") is False  # not the lease holder
    assert _enqueued(metrics, "report") == 1.0

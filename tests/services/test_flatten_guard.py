"""The flatten guard in virtual time: degraded at flatten time, it flattens at the broker alone."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import trio
import trio.testing

from actors import ChildSpec, Strategy, SupervisorSpec, open_supervisor
from finagent.adapters.clocks import VirtualClock
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, OrderStatus
from finagent.observability import Metrics
from finagent.services.flatten_guard import FlattenGuard
from finagent.services.trading_state import TradingSwitch
from tests.fakes import FakeBroker, FakeClock

# Tuesday 2026-03-10: XNYS closes at 16:00 EDT = 20:00 UTC, so flatten time is 19:55 UTC.
MORNING = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
FLATTEN = datetime(2026, 3, 10, 19, 55, tzinfo=UTC)
CLOSE = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)


def _order(symbol: str) -> BracketOrder:
    e = Decimal(10)
    return BracketOrder(f"execute_2026-03-10_{symbol}", symbol, Side.LONG, 10, e, e - 1, e + 1)


async def _book(broker: FakeBroker) -> None:
    held, working = _order("HELD"), _order("WORK")
    await broker.submit(held)
    await broker.submit(working)
    broker.fill_entry(held.client_order_id)  # a position the daemon owns; WORK still waits


async def _run_until(guard: FlattenGuard, clock: VirtualClock, until: datetime) -> None:
    spec = SupervisorSpec("root", [ChildSpec("flatten_guard", guard.run)],
                          strategy=Strategy.ONE_FOR_ONE)  # fmt: skip
    async with open_supervisor(spec):
        await clock.sleep_until(until)


async def test_degraded_at_flatten_time_it_cancels_entries_and_closes_positions(
    autojump_clock: trio.testing.MockClock, caplog
) -> None:
    clock = VirtualClock(MORNING)
    broker = FakeBroker(FakeClock(MORNING))
    await _book(broker)
    switch = TradingSwitch()
    switch.degraded = "disk full"  # the store cannot commit: the flatten job may never run
    metrics = Metrics("test", process_collectors=False)
    guard = FlattenGuard(switch, broker, XcalsExchangeCalendar("XNYS"), clock,
                         minutes_before_close=5, metrics=metrics)  # fmt: skip
    spec = SupervisorSpec("root", [ChildSpec("flatten_guard", guard.run)],
                          strategy=Strategy.ONE_FOR_ONE)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="finagent.services.flatten_guard"):
        async with open_supervisor(spec):
            await clock.sleep_until(FLATTEN - timedelta(seconds=1))
            assert guard.flattened == 0  # nothing before flatten time
            assert len(await broker.open_orders()) == 2
            await clock.sleep_until(CLOSE)
    assert await broker.open_orders() == []
    assert await broker.positions() == []
    assert broker.orders[_order("WORK").client_order_id].status is OrderStatus.CANCELED
    assert guard.flattened == 1
    assert metrics.registry.get_sample_value("finagent_broker_flattens_total") == guard.flattened
    lines = [r.getMessage() for r in caplog.records if "flatten time" in r.getMessage()]
    assert lines == [
        "degraded at flatten time (disk full) on 2026-03-10: flattened at the broker without "
        "the database: canceled 1 working entr(ies), closed 1 symbol(s)"
    ]  # once: later rechecks find the broker flat and stay quiet


async def test_not_degraded_it_leaves_the_flatten_to_the_scheduled_job(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = VirtualClock(MORNING)
    broker = FakeBroker(FakeClock(MORNING))
    await _book(broker)
    guard = FlattenGuard(TradingSwitch(), broker, XcalsExchangeCalendar("XNYS"), clock,
                         minutes_before_close=5)  # fmt: skip
    await _run_until(guard, clock, CLOSE + timedelta(minutes=1))
    assert guard.flattened == 0
    assert len(await broker.open_orders()) == 2  # the queue's flatten job does it normally


async def test_a_fault_that_starts_after_flatten_time_is_still_caught_before_the_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = VirtualClock(MORNING)
    broker = FakeBroker(FakeClock(MORNING))
    await _book(broker)
    switch = TradingSwitch()
    guard = FlattenGuard(switch, broker, XcalsExchangeCalendar("XNYS"), clock,
                         minutes_before_close=5, recheck_s=30.0)  # fmt: skip
    spec = SupervisorSpec("root", [ChildSpec("flatten_guard", guard.run)],
                          strategy=Strategy.ONE_FOR_ONE)  # fmt: skip
    async with open_supervisor(spec):
        await clock.sleep_until(FLATTEN + timedelta(minutes=2))
        assert guard.flattened == 0
        switch.hold("redis came back without finagent's data")
        await clock.sleep_until(FLATTEN + timedelta(minutes=3))
    assert guard.flattened == 1 and await broker.open_orders() == []


async def test_after_the_last_session_of_a_long_closure_it_looks_again_a_day_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Closed:  # a calendar with no session at all (an exchange shut for a while)
        name, timezone = "XCLOSED", "UTC"

        def sessions(self, start, end):
            return []

        def closed_days(self, start, end):
            return []

    clock = VirtualClock(MORNING)
    guard = FlattenGuard(TradingSwitch(), FakeBroker(FakeClock(MORNING)), Closed(), clock,
                         minutes_before_close=5)  # fmt: skip
    with trio.move_on_after(3 * 86400):
        await guard.guard()
    assert clock.now() >= MORNING + timedelta(days=3) and guard.flattened == 0

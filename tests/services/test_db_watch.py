"""The database watch in virtual time, and the safe stop against the fake and paper brokers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trio
import trio.testing

from actors import ChildSpec, Strategy, SupervisorSpec, open_supervisor
from finagent.adapters.sim.paper_broker import open_paper_broker
from finagent.domain.errors import BrokerUnavailable
from finagent.domain.market import Bar, Side
from finagent.domain.orders import BracketOrder, BrokerOrder, CloseResult, OrderStatus
from finagent.domain.risk import TradingState
from finagent.observability import Metrics
from finagent.services.db_watch import DatabaseWatch, FatalStop, stop_safely
from finagent.services.trading_state import TradingSwitch
from tests.fakes import FakeBroker, FakeClock, FakeMarket

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 3, 10, 9, 35, tzinfo=NY)


def order(symbol: str, entry: str = "10") -> BracketOrder:
    e = Decimal(entry)
    return BracketOrder(f"20260310-{symbol}-long", symbol, Side.LONG, 10, e, e - 1, e + 1)


class MovingFile:
    """A StoreIdentity whose file moves when the test says so."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.calls = 0

    def changed(self) -> str | None:
        self.calls += 1
        return self.reason


async def test_a_moved_file_halts_entries_counts_it_and_asks_the_daemon_to_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    identity, switch, stop = MovingFile(), TradingSwitch(), FatalStop()
    metrics = Metrics("test", process_collectors=False)
    watch = DatabaseWatch(identity, switch, stop, metrics=metrics, poll_s=1.0)
    spec = SupervisorSpec("root", [ChildSpec("db_watch", watch.run)], strategy=Strategy.ONE_FOR_ONE)
    t0 = trio.current_time()
    async with open_supervisor(spec):
        await trio.sleep(2.5)
        assert identity.calls == 3  # at 0, 1 and 2 s
        identity.reason = "database /x/finagent.db was deleted under the running daemon"
        await stop.requested.wait()
        assert trio.current_time() - t0 == 3.0  # the next poll
        await trio.sleep(5)
        assert identity.calls == 4  # reported once, then it waits to be stopped
    assert switch.state is TradingState.DEGRADED
    assert stop.reason == identity.reason
    fault = metrics.registry.get_sample_value(
        "finagent_database_faults_total", {"fault": "deleted"}
    )
    assert fault == 1.0


def test_a_replaced_file_is_counted_as_replaced() -> None:
    identity, stop = MovingFile(), FatalStop()
    metrics = Metrics("test", process_collectors=False)
    watch = DatabaseWatch(identity, TradingSwitch(), stop, metrics=metrics)
    assert not watch.check()
    identity.reason = "database /x/finagent.db was replaced by another file"
    assert watch.check()
    stop.request("a later fault")  # the first reason wins
    assert stop.reason == identity.reason
    labels = {"fault": "replaced"}
    assert metrics.registry.get_sample_value("finagent_database_faults_total", labels) == 1.0
    assert DatabaseWatch(identity, TradingSwitch(), FatalStop()).check()  # no metrics: no count


async def test_stop_safely_cancels_entries_and_closes_filled_brackets() -> None:
    clock = FakeClock(T0)
    broker = FakeBroker(clock)
    await broker.submit(order("AAA"))
    await broker.submit(order("BBB"))
    broker.fill_entry("20260310-BBB-long")
    done = await stop_safely(broker)
    assert done.canceled == ("20260310-AAA-long",)
    assert done.closed == ("BBB",)
    assert done.failed == ()
    assert await broker.open_orders() == []


class FailingBroker(FakeBroker):
    """Refuses the calls named in ``fail``."""

    def __init__(self, clock: FakeClock, fail: set[str]) -> None:
        super().__init__(clock)
        self.fail = fail

    async def open_orders(self) -> Sequence[BrokerOrder]:
        if "open_orders" in self.fail:
            raise BrokerUnavailable("down")
        return await super().open_orders()

    async def cancel(self, client_order_id: str) -> BrokerOrder:
        if "cancel" in self.fail:
            raise BrokerUnavailable("down")
        return await super().cancel(client_order_id)

    async def close(self, symbol: str) -> CloseResult:
        if symbol in self.fail:
            raise BrokerUnavailable("down")
        if "refuse" in self.fail:
            return CloseResult(symbol, ok=False, error="refused")
        return await super().close(symbol)


@pytest.mark.parametrize(
    ("fail", "failed"),
    [
        ({"open_orders"}, ("open_orders",)),
        ({"cancel"}, ("20260310-AAA-long",)),
        ({"BBB"}, ("BBB",)),
        ({"refuse"}, ("BBB", "CCC")),
    ],
)
async def test_stop_safely_goes_on_past_a_failed_call_and_names_it(
    fail: set[str], failed: tuple[str, ...]
) -> None:
    broker = FailingBroker(FakeClock(T0), fail)
    for symbol in ("AAA", "BBB", "CCC"):
        await broker.submit(order(symbol))
    broker.fill_entry("20260310-BBB-long")
    broker.fill_entry("20260310-CCC-long")
    done = await stop_safely(broker)
    assert done.failed == failed
    if "open_orders" not in fail:
        assert set(done.closed) == {"BBB", "CCC"} - set(failed)


async def test_stop_safely_at_the_paper_broker_leaves_nothing_working(tmp_path: Path) -> None:
    clock, market = FakeClock(T0), FakeMarket()
    market.add_bar(Bar("BBB", T0, *(Decimal(p) for p in ("10", "10.2", "9.9", "10.1")), 1))
    async with open_paper_broker(tmp_path / "p.db", market, clock, slippage_bps=0) as broker:
        await broker.submit(order("AAA", entry="500"))  # far above the market: stays working
        await broker.submit(order("BBB"))
        clock.advance(timedelta(seconds=60))
        statuses = {o.symbol: o.status for o in await broker.open_orders()}
        assert statuses == {"AAA": OrderStatus.PENDING, "BBB": OrderStatus.FILLED}
        done = await stop_safely(broker)
        assert (done.canceled, done.closed) == (("20260310-AAA-long",), ("BBB",))
        assert await broker.open_orders() == []
        assert await broker.positions() == []

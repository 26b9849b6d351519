"""PaperBroker specifics the contract cannot state: time, restarts, costs, threads, expiry."""

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from finagent.adapters.sim.paper_broker import open_paper_broker
from finagent.domain.market import Bar, Side
from finagent.domain.orders import BracketOrder, FillKind, OrderStatus
from tests.fakes import FakeClock, FakeMarket

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 3, 10, 9, 35, tzinfo=NY)
ORDER = BracketOrder(
    "20260310-ABC-long", "ABC", Side.LONG, 100, Decimal(10), Decimal("9.5"), Decimal(11)
)


def bar(minute: int, o: str, h: str, low: str, c: str) -> Bar:
    return Bar(
        "ABC", T0 + timedelta(minutes=minute), Decimal(o), Decimal(h), Decimal(low), Decimal(c), 1
    )


async def test_bars_after_now_are_not_used_until_the_clock_reaches_them(tmp_path: Path) -> None:
    clock, market = FakeClock(T0), FakeMarket()
    market.add_bar(bar(0, "10", "10.5", "9.9", "10.2"))
    async with open_paper_broker(tmp_path / "p.db", market, clock, slippage_bps=0) as broker:
        await broker.submit(ORDER)
        clock.advance(timedelta(seconds=59))
        assert (await broker.open_orders())[0].status is OrderStatus.PENDING
        clock.advance(timedelta(seconds=1))
        assert (await broker.open_orders())[0].status is OrderStatus.FILLED


async def test_bars_before_submission_never_fill_an_order(tmp_path: Path) -> None:
    clock, market = FakeClock(T0 + timedelta(minutes=1)), FakeMarket()
    market.add_bar(bar(0, "10", "10.5", "9.9", "10.2"))
    async with open_paper_broker(tmp_path / "p.db", market, clock) as broker:
        await broker.submit(ORDER)
        await broker.sync_to(T0 + timedelta(minutes=5))
        assert (await broker.open_orders())[0].status is OrderStatus.PENDING


async def test_orders_and_positions_survive_a_restart(tmp_path: Path) -> None:
    clock, market = FakeClock(T0), FakeMarket()
    market.add_bar(bar(0, "10", "10.5", "9.9", "10.2"))
    path = tmp_path / "p.db"
    async with open_paper_broker(path, market, clock, starting_equity=50_000) as broker:
        await broker.submit(ORDER)
        clock.advance(timedelta(minutes=1))
        assert len(await broker.positions()) == 1
    async with open_paper_broker(path, market, clock, starting_equity=999) as broker:
        [position] = await broker.positions()
        assert position.quantity == 100
        again = await broker.submit(ORDER)
        assert again.status is OrderStatus.FILLED
        market.add_bar(bar(1, "10.2", "11.1", "10.1", "11"))
        clock.advance(timedelta(minutes=1))
        done = await broker.order_by_client_id(ORDER.client_order_id)
        assert done is not None and done.exit_kind is FillKind.TARGET
        assert (await broker.account()).equity > Decimal(50_000)


async def test_slippage_and_commission_reach_the_account(tmp_path: Path) -> None:
    clock, market = FakeClock(T0), FakeMarket()
    market.add_bar(bar(0, "10", "10.5", "9.9", "10.2"))
    market.add_bar(bar(1, "10.2", "10.3", "9.4", "9.6"))
    path = tmp_path / "p.db"
    async with open_paper_broker(
        path, market, clock, slippage_bps=10, commission_per_share=0.01
    ) as broker:
        await broker.submit(ORDER)
        clock.advance(timedelta(minutes=2))
        account = await broker.account()
    # buy 100 @ 10.01, sell 100 @ 9.49 (9.50 less 10 bps), $1 commission each side
    assert account.equity == Decimal("100000") - Decimal("52") - Decimal("2")
    assert account.day_pnl == Decimal("-54.00")


async def test_a_working_entry_expires_the_next_day(tmp_path: Path) -> None:
    clock, market = FakeClock(T0), FakeMarket()
    async with open_paper_broker(tmp_path / "p.db", market, clock) as broker:
        await broker.submit(ORDER)
        clock.advance(timedelta(days=1))
        assert await broker.open_orders() == []
        expired = await broker.order_by_client_id(ORDER.client_order_id)
        assert expired is not None and expired.status is OrderStatus.EXPIRED


async def test_close_without_a_price_reports_failure_and_keeps_the_position(tmp_path: Path) -> None:
    clock, market = FakeClock(T0), FakeMarket()
    market.add_bar(bar(0, "10", "10.5", "9.9", "10.2"))
    async with open_paper_broker(tmp_path / "p.db", market, clock) as broker:
        await broker.submit(ORDER)
        clock.advance(timedelta(minutes=1))
        assert len(await broker.positions()) == 1  # fills happen lazily, on the next call
        market.bars_by_symbol.clear()
        result = await broker.close("ABC")
        assert not result.ok and result.error == "no last price to close at"
        assert len(await broker.positions()) == 1


async def test_threaded_mode_gives_the_same_answers(tmp_path: Path) -> None:
    clock, market = FakeClock(T0), FakeMarket()
    market.add_bar(bar(0, "10", "10.5", "9.9", "10.2"))
    async with open_paper_broker(tmp_path / "p.db", market, clock, threaded=True) as broker:
        placed = await broker.submit(ORDER)
        assert placed.status is OrderStatus.PENDING
        clock.advance(timedelta(minutes=1))
        assert [p.quantity for p in await broker.positions()] == [100]
        assert [r.ok for r in await broker.close_all()] == [True]

"""The Broker contract: every Broker adapter (fake, paper, later Alpaca) passes this suite.

Each backend comes as a ``BrokerHarness`` with two test controls that only the backend knows
how to do: make an order's entry fill, and move a symbol's last price.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from finagent.adapters.sim.paper_broker import open_paper_broker
from finagent.domain.errors import InsufficientBuyingPower, OrderNotFound
from finagent.domain.market import Bar, Side
from finagent.domain.orders import BracketOrder, FillKind, OrderSide, OrderStatus
from finagent.ports.broker import Broker
from tests.fakes import FakeBroker, FakeClock, FakeMarket

NY = ZoneInfo("America/New_York")
START = datetime(2026, 3, 10, 9, 35, tzinfo=NY)


@dataclass
class BrokerHarness:
    """A broker plus the controls to drive it like a market would."""

    broker: Broker
    clock: FakeClock
    fill_entry: Callable[[BracketOrder], Awaitable[None]]
    set_price: Callable[[str, Decimal], Awaitable[None]]


def _bar(symbol: str, at: datetime, px: Decimal) -> Bar:
    return Bar(symbol, at, px, px, px, px, 1000)


@asynccontextmanager
async def _fake() -> AsyncIterator[BrokerHarness]:
    clock = FakeClock(START)
    broker = FakeBroker(clock)

    async def fill(order: BracketOrder) -> None:
        broker.fill_entry(order.client_order_id)

    async def price(symbol: str, px: Decimal) -> None:
        broker.prices[symbol] = px

    yield BrokerHarness(broker, clock, fill, price)


@asynccontextmanager
async def _paper(path: Path) -> AsyncIterator[BrokerHarness]:
    clock = FakeClock(START)
    market = FakeMarket()

    async def price(symbol: str, px: Decimal) -> None:
        market.add_bar(_bar(symbol, clock.now(), px))
        clock.advance(timedelta(minutes=1))

    async def fill(order: BracketOrder) -> None:
        await price(order.symbol, order.entry)

    async with open_paper_broker(path, market, clock, slippage_bps=0.0) as broker:
        yield BrokerHarness(broker, clock, fill, price)


@pytest.fixture(params=["fake", "paper"])
async def bh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BrokerHarness]:
    """A fresh broker of each kind, flat, with $100,000 of equity."""
    opener = _fake() if request.param == "fake" else _paper(tmp_path / "paper.db")
    async with opener as harness:
        yield harness


def _order(
    cid: str = "20260310-ABC-long", symbol: str = "ABC", side: Side = Side.LONG, qty: int = 100
) -> BracketOrder:
    if side is Side.LONG:
        return BracketOrder(
            cid, symbol, side, qty, Decimal("10.00"), Decimal("9.50"), Decimal("11.00")
        )
    return BracketOrder(cid, symbol, side, qty, Decimal("10.00"), Decimal("10.50"), Decimal("9.00"))


async def test_submit_returns_a_pending_order_with_the_callers_id(bh: BrokerHarness) -> None:
    placed = await bh.broker.submit(_order())
    assert placed.client_order_id == "20260310-ABC-long"
    assert placed.status is OrderStatus.PENDING
    assert placed.order.quantity == 100
    assert placed.broker_id


async def test_submitting_the_same_client_order_id_twice_returns_the_first_order(
    bh: BrokerHarness,
) -> None:
    first = await bh.broker.submit(_order())
    second = await bh.broker.submit(_order(qty=50))
    assert second.broker_id == first.broker_id
    assert second.order.quantity == 100
    assert [o.client_order_id for o in await bh.broker.open_orders()] == [first.client_order_id]


async def test_order_by_client_id_finds_the_order_or_none(bh: BrokerHarness) -> None:
    assert await bh.broker.order_by_client_id("nope") is None
    placed = await bh.broker.submit(_order())
    found = await bh.broker.order_by_client_id(placed.client_order_id)
    assert found is not None and found.broker_id == placed.broker_id


async def test_cancel_ends_a_pending_order_and_is_idempotent(bh: BrokerHarness) -> None:
    placed = await bh.broker.submit(_order())
    canceled = await bh.broker.cancel(placed.client_order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert (await bh.broker.cancel(placed.client_order_id)).status is OrderStatus.CANCELED
    assert await bh.broker.open_orders() == []


async def test_cancel_of_an_unknown_order_raises_not_found(bh: BrokerHarness) -> None:
    with pytest.raises(OrderNotFound):
        await bh.broker.cancel("never-sent")


async def test_cancel_leaves_a_filled_bracket_alone(bh: BrokerHarness) -> None:
    placed = await bh.broker.submit(_order())
    await bh.fill_entry(placed.order)
    assert (await bh.broker.cancel(placed.client_order_id)).status is OrderStatus.FILLED


@pytest.mark.parametrize(("side", "signed"), [(Side.LONG, 100), (Side.SHORT, -100)])
async def test_a_filled_entry_shows_as_a_signed_position(
    bh: BrokerHarness, side: Side, signed: int
) -> None:
    placed = await bh.broker.submit(_order(side=side))
    await bh.fill_entry(placed.order)
    positions = await bh.broker.positions()
    assert [(p.symbol, p.quantity, p.avg_price) for p in positions] == [
        ("ABC", signed, Decimal("10.00"))
    ]
    [still_open] = await bh.broker.open_orders()
    assert still_open.status is OrderStatus.FILLED
    assert still_open.filled_price == Decimal("10.00")


async def test_close_all_flattens_at_the_last_price_and_cancels_working_entries(
    bh: BrokerHarness,
) -> None:
    held = await bh.broker.submit(_order())
    working = await bh.broker.submit(_order("20260310-XYZ-short", "XYZ", Side.SHORT))
    await bh.fill_entry(held.order)
    await bh.set_price("ABC", Decimal("10.40"))
    results = {r.symbol: r for r in await bh.broker.close_all()}
    assert set(results) == {"ABC", "XYZ"}
    assert results["ABC"].ok and results["ABC"].fill is not None
    assert results["ABC"].fill.side is OrderSide.SELL
    assert results["ABC"].fill.price == Decimal("10.40")
    assert results["ABC"].fill.kind is FillKind.CLOSE
    assert results["XYZ"].ok and results["XYZ"].fill is None
    assert await bh.broker.positions() == []
    assert await bh.broker.open_orders() == []
    closed = await bh.broker.order_by_client_id(held.client_order_id)
    assert closed is not None and closed.status is OrderStatus.CLOSED
    canceled = await bh.broker.order_by_client_id(working.client_order_id)
    assert canceled is not None and canceled.status is OrderStatus.CANCELED


async def test_closing_a_symbol_with_nothing_open_reports_failure(bh: BrokerHarness) -> None:
    result = await bh.broker.close("ABC")
    assert not result.ok and result.error


async def test_a_flat_account_has_its_starting_equity(bh: BrokerHarness) -> None:
    account = await bh.broker.account()
    assert account.equity == Decimal(100_000)
    assert account.day_pnl == 0
    assert account.buying_power >= account.equity


async def test_realized_profit_raises_equity(bh: BrokerHarness) -> None:
    placed = await bh.broker.submit(_order())
    await bh.fill_entry(placed.order)
    await bh.set_price("ABC", Decimal("10.50"))
    assert (await bh.broker.account()).equity == Decimal("100050.00")
    await bh.broker.close("ABC")
    account = await bh.broker.account()
    assert account.equity == Decimal("100050.00")
    assert account.cash == Decimal("100050.00")


async def test_an_order_beyond_buying_power_is_rejected_and_not_kept(bh: BrokerHarness) -> None:
    huge = _order(qty=1_000_000)
    with pytest.raises(InsufficientBuyingPower) as caught:
        await bh.broker.submit(huge)
    assert caught.value.client_order_id == huge.client_order_id
    assert await bh.broker.order_by_client_id(huge.client_order_id) is None

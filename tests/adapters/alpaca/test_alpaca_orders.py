"""Order paths that must not depend on legs the by-client-id lookup may not return.

The fake answers ``GET /v2/orders:by_client_order_id`` without legs (only ``client_order_id``
is documented for it); with ``hide_filled_from_open`` a bracket whose entry filled is missing
from ``GET /v2/orders?status=open`` (alpaca-trade-api-js #87). Every test asserts that no
path sent a second order.
"""

from __future__ import annotations

import threading
from decimal import Decimal

from finagent.adapters.alpaca.broker import AlpacaBroker
from finagent.adapters.alpaca.http import AlpacaHttp, TokenBucket
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, FillKind, OrderStatus
from tests.fakes.alpaca import FakeAlpacaState
from tests.fakes.alpaca.harness import FAST, open_rig

ORDER = BracketOrder(
    "gap-20260310-ABC", "ABC", Side.LONG, 100, Decimal("10.00"), Decimal("9.50"), Decimal("11.00")
)


def _legs_read_by_id(state: FakeAlpacaState, broker_id: str) -> int:
    return state.count("GET", f"/v2/orders/{broker_id}")


async def test_a_lost_answer_is_recovered_from_a_lookup_without_legs() -> None:
    state = FakeAlpacaState(hold_submit=threading.Event())
    async with open_rig(state, http_timeout=0.3) as rig:
        placed = await rig.broker.submit(ORDER)
        state.hold_submit.set()  # type: ignore[union-attr] - set just above
        assert placed.order == ORDER and placed.status is OrderStatus.PENDING
        assert state.count("GET", "/v2/orders:by_client_order_id") == 1
        assert _legs_read_by_id(state, placed.broker_id) == 1
        assert state.count("POST", "/v2/orders") == 1 and len(state.orders) == 1


async def test_a_422_duplicate_returns_the_existing_bracket_with_its_legs() -> None:
    async with open_rig() as rig:
        first = await rig.broker.submit(ORDER)
        rig.state.fill_entry(ORDER.client_order_id)
        again = await rig.broker.submit(ORDER)
        assert again.broker_id == first.broker_id and again.order == ORDER
        assert again.status is OrderStatus.FILLED
        assert rig.state.count("POST", "/v2/orders") == 2 and len(rig.state.orders) == 1


async def test_cancel_works_when_the_lookup_has_no_legs() -> None:
    async with open_rig() as rig:
        placed = await rig.broker.submit(ORDER)
        canceled = await rig.broker.cancel(ORDER.client_order_id)
        assert canceled.status is OrderStatus.CANCELED
        assert rig.state.count("DELETE", f"/v2/orders/{placed.broker_id}") == 1
        assert rig.state.count("POST", "/v2/orders") == 1


async def test_close_frees_the_legs_of_a_filled_bracket_missing_from_the_open_list() -> None:
    async with open_rig(FakeAlpacaState(hide_filled_from_open=True)) as rig:
        placed = await rig.broker.submit(ORDER)
        rig.state.fill_entry(ORDER.client_order_id)
        rig.state.set_price("ABC", Decimal("10.40"))
        assert await rig.broker.open_orders() == []  # the filled bracket is not listed
        result = await rig.broker.close("ABC")
        assert result.ok and result.fill is not None and result.fill.price == Decimal("10.40")
        legs = rig.state.orders[placed.broker_id]["legs"]
        assert {leg["status"] for leg in legs} == {"canceled"}
        assert rig.state.positions == {}
        assert rig.state.count("POST", "/v2/orders") == 1


async def test_a_restarted_broker_closes_by_the_parent_id_a_lookup_stored() -> None:
    async with open_rig(FakeAlpacaState(hide_filled_from_open=True)) as rig:
        await rig.broker.submit(ORDER)
        rig.state.fill_entry(ORDER.client_order_id)
        fresh = AlpacaBroker(
            AlpacaHttp(rig.client, port="trading", limiter=TokenBucket(100_000), policy=FAST)
        )
        found = await fresh.order_by_client_id(ORDER.client_order_id)  # as start-up does
        assert found is not None and found.status is OrderStatus.FILLED
        result = await fresh.close("ABC")
        assert result.ok and rig.state.positions == {}
        closed = await fresh.order_by_client_id(ORDER.client_order_id)
        assert closed is not None and closed.status is OrderStatus.CLOSED
        assert closed.exit_kind is FillKind.CLOSE
        assert rig.state.count("POST", "/v2/orders") == 1


async def test_close_skips_brackets_that_already_ended() -> None:
    async with open_rig() as rig:
        placed = await rig.broker.submit(ORDER)
        await rig.broker.cancel(ORDER.client_order_id)
        result = await rig.broker.close("ABC")
        assert not result.ok and result.error == "position does not exist"
        assert rig.state.count("DELETE", f"/v2/orders/{placed.broker_id}") == 1
        assert rig.state.count("POST", "/v2/orders") == 1


async def test_the_days_orders_are_listed_from_the_broker_page_by_page() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from finagent.domain.orders import duplicate_orders

    async with open_rig() as rig:
        since = rig.state.now() - timedelta(seconds=1)
        first = await rig.broker.submit(ORDER)
        rig.state.clock_offset += timedelta(seconds=1)
        # The same bracket resent under a second client id: Alpaca takes it as a new order.
        await rig.broker.submit(replace(ORDER, client_order_id="gap-20260310-ABC-again"))
        rig.state.clock_offset += timedelta(seconds=1)
        await rig.broker.close("ABC")  # a flatten's market order is not listed as a bracket
        rig.broker.page = 1  # one order a page: the second page starts after the first's time
        listed = await rig.broker.orders_since(since)
        later = await rig.broker.orders_since(datetime.now(UTC) + timedelta(days=3650))
    assert [o.client_order_id for o in listed] == [
        first.client_order_id,
        "gap-20260310-ABC-again",
    ]
    assert duplicate_orders(listed, "gap-20260310-") == 1
    assert later == []


async def test_a_simple_market_order_between_the_brackets_is_not_listed() -> None:
    """A close's market order (``order_class: simple``) is in the account's list of the day,
    between two brackets and on a page of its own; only the brackets come back."""
    from dataclasses import replace
    from datetime import timedelta

    async with open_rig() as rig:
        since = rig.state.now() - timedelta(seconds=1)
        first = await rig.broker.submit(ORDER)
        rig.state.clock_offset += timedelta(seconds=1)
        now = rig.state.now().isoformat()
        market = {
            "id": rig.state.new_id(), "client_order_id": rig.state.new_id(), "symbol": "ABC",
            "qty": "100", "side": "sell", "type": "market", "status": "filled",
            "filled_qty": "100", "filled_avg_price": "10.50", "filled_at": now,
            "order_class": "simple", "created_at": now, "submitted_at": now, "legs": [],
        }  # fmt: skip
        rig.state.orders[market["id"]] = market
        rig.state.clock_offset += timedelta(seconds=1)
        second = await rig.broker.submit(replace(ORDER, client_order_id="gap-20260310-ABC-2"))
        rig.broker.page = 1  # one order a page: the market order's page lists nothing
        listed = await rig.broker.orders_since(since)
        pages = [q["after"] for path, q in rig.state.queries if q.get("status") == "all"]
    assert [o.client_order_id for o in listed] == [first.client_order_id, second.client_order_id]
    assert len(pages) == 4  # three full pages of one, then an empty one
    assert pages[2] == market["submitted_at"]  # the page after the market order's

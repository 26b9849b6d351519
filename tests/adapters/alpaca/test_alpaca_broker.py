"""AlpacaBroker request shapes and edge answers (respx), and the live-mode guard."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from finagent.adapters.alpaca.broker import (
    AlpacaBroker,
    BrokerAuthError,
    LiveTradingNotConfirmed,
    check_live_confirmed,
)
from finagent.adapters.alpaca.http import AlpacaHttp, RetryPolicy, TokenBucket, alpaca_headers
from finagent.domain.errors import (
    BrokerError,
    BrokerUnavailable,
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    OrderNotFound,
    OrderRejected,
    PatternDayTrader,
)
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, OrderStatus, Position

BASE = "https://paper.test"
SHORT = BracketOrder(
    "gap-XYZ", "XYZ", Side.SHORT, 10, Decimal("20.5"), Decimal("21"), Decimal("19")
)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def broker() -> AsyncIterator[AlpacaBroker]:
    async with httpx.AsyncClient(base_url=BASE, headers=alpaca_headers("k", "s")) as client:
        policy = RetryPolicy(attempts=2, base_s=0.0)
        yield AlpacaBroker(
            AlpacaHttp(client, port="trading", limiter=TokenBucket(100_000), policy=policy)
        )


def _wire(status: str = "accepted", **extra: Any) -> dict[str, Any]:
    legs = [
        {"id": "tp", "type": "limit", "limit_price": "19", "stop_price": None, "status": "held"},
        {"id": "sl", "type": "stop", "limit_price": None, "stop_price": "21", "status": "held"},
    ]
    order = {
        "id": "b-1", "client_order_id": "gap-XYZ", "symbol": "XYZ", "qty": "10", "side": "sell",
        "type": "stop", "stop_price": "20.5", "order_class": "bracket", "status": status,
        "created_at": "2026-03-10T14:35:00.123456789Z", "filled_qty": "0", "legs": legs,
    }  # fmt: skip
    order.update(extra)
    return order


async def test_submit_posts_a_stop_entry_bracket(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    route = api.post("/v2/orders").mock(return_value=httpx.Response(200, json=_wire()))
    placed = await broker.submit(SHORT)
    assert json.loads(route.calls.last.request.content) == {
        "symbol": "XYZ", "qty": "10", "side": "sell", "type": "stop", "stop_price": "20.5",
        "time_in_force": "day", "order_class": "bracket", "client_order_id": "gap-XYZ",
        "take_profit": {"limit_price": "19"}, "stop_loss": {"stop_price": "21"},
    }  # fmt: skip
    assert placed.order == SHORT
    assert placed.status is OrderStatus.PENDING


async def test_duplicate_without_a_findable_order_is_raised(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    body = {"code": 40010001, "message": "client_order_id must be unique"}
    api.post("/v2/orders").mock(return_value=httpx.Response(422, json=body))
    api.get("/v2/orders:by_client_order_id").mock(return_value=httpx.Response(404, json={}))
    with pytest.raises(DuplicateClientOrderId):
        await broker.submit(SHORT)


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (401, "unauthorized.", BrokerAuthError),
        (403, "account is not allowed to short", OrderRejected),
        (400, "invalid stop_price", OrderRejected),
    ],
)
async def test_submit_errors_are_typed(
    api: respx.MockRouter, broker: AlpacaBroker, status: int, message: str, kind: type[Exception]
) -> None:
    api.post("/v2/orders").mock(return_value=httpx.Response(status, json={"message": message}))
    with pytest.raises(kind, match=message):
        await broker.submit(SHORT)


@pytest.mark.parametrize(
    ("status", "body", "kind", "reason"),
    [
        (403, {"code": 40310000, "message": "insufficient buying power"},
         InsufficientBuyingPower, "insufficient buying power"),
        (403, {"code": 40310100, "message": "trade denied"}, PatternDayTrader, "trade denied"),
        (403, {"message": "insufficient day trading buying power"}, InsufficientBuyingPower,
         "insufficient day trading buying power"),
        (403, {"message": "denied: pattern day trading protection"}, PatternDayTrader,
         "denied: pattern day trading protection"),
        (403, {"code": 40310000, "message": "account is not authorized to trade"},
         OrderRejected, "HTTP 403 (code 40310000): account is not authorized to trade"),
        (403, {"code": 40399999, "message": "insufficient buying power"}, OrderRejected,
         "HTTP 403 (code 40399999): insufficient buying power"),
        (422, {"code": 42210000, "message": "client_order_id must be unique"}, OrderRejected,
         "HTTP 422 (code 42210000): client_order_id must be unique"),
        (422, {"code": 40010001, "message": "invalid stop_price"}, OrderRejected,
         "HTTP 422 (code 40010001): invalid stop_price"),
    ],
)  # fmt: skip
async def test_refusals_are_recognised_by_status_and_code_then_message(
    api: respx.MockRouter,
    broker: AlpacaBroker,
    status: int,
    body: dict[str, Any],
    kind: type[OrderRejected],
    reason: str,
) -> None:
    post = api.post("/v2/orders").mock(return_value=httpx.Response(status, json=body))
    lookup = api.get("/v2/orders:by_client_order_id")
    with pytest.raises(kind) as caught:
        await broker.submit(SHORT)
    assert type(caught.value) is kind and caught.value.reason == reason
    assert post.call_count == 1 and not lookup.called  # never retried, never "found"


async def test_a_duplicate_without_a_code_is_recognised_by_its_message(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    api.post("/v2/orders").mock(
        return_value=httpx.Response(422, json={"message": "client_order_id must be unique"})
    )
    api.get("/v2/orders:by_client_order_id").mock(return_value=httpx.Response(200, json=_wire()))
    assert (await broker.submit(SHORT)).broker_id == "b-1"


async def test_submit_that_never_lands_is_unavailable(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    post = api.post("/v2/orders").mock(return_value=httpx.Response(504))
    api.get("/v2/orders:by_client_order_id").mock(return_value=httpx.Response(404, json={}))
    with pytest.raises(BrokerUnavailable, match="outcome unknown"):
        await broker.submit(SHORT)
    assert post.call_count == 2


async def test_a_malformed_answer_is_unavailable(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    api.post("/v2/orders").mock(return_value=httpx.Response(200, json={"id": "x"}))
    with pytest.raises(BrokerUnavailable, match="malformed"):
        await broker.submit(SHORT)


async def test_lookup_sends_only_the_documented_parameter_and_uses_legs_it_gets(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    route = api.get("/v2/orders:by_client_order_id").mock(
        return_value=httpx.Response(200, json=_wire("filled", filled_avg_price="20.50"))
    )
    by_id = api.get("/v2/orders/b-1")
    found = await broker.order_by_client_id("gap-XYZ")
    assert dict(route.calls.last.request.url.params) == {"client_order_id": "gap-XYZ"}
    assert found is not None and found.status is OrderStatus.FILLED
    assert not by_id.called  # the legs came with the answer: no second read


async def test_a_lookup_without_legs_reads_them_by_the_parents_id(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    api.get("/v2/orders:by_client_order_id").mock(
        return_value=httpx.Response(200, json=_wire("filled", filled_avg_price="20.5", legs=None))
    )
    by_id = api.get("/v2/orders/b-1").mock(
        return_value=httpx.Response(200, json=_wire("filled", filled_avg_price="20.5"))
    )
    found = await broker.order_by_client_id("gap-XYZ")
    assert dict(by_id.calls.last.request.url.params) == {"nested": "true"}
    assert found is not None and found.status is OrderStatus.FILLED
    assert found.order == SHORT


async def test_legs_missing_from_both_answers_are_unavailable_not_guessed(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    api.get("/v2/orders:by_client_order_id").mock(
        return_value=httpx.Response(200, json=_wire(legs=[]))
    )
    api.get("/v2/orders/b-1").mock(return_value=httpx.Response(200, json=_wire(legs=None)))
    with pytest.raises(BrokerUnavailable, match="no take-profit/stop legs"):
        await broker.order_by_client_id("gap-XYZ")


async def test_a_lookup_answer_without_an_id_is_malformed(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    api.get("/v2/orders:by_client_order_id").mock(
        return_value=httpx.Response(200, json={"client_order_id": "gap-XYZ"})
    )
    with pytest.raises(BrokerUnavailable, match="malformed response: 'id'"):
        await broker.order_by_client_id("gap-XYZ")


async def test_lookup_of_a_forbidden_order_is_an_auth_error(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    api.get("/v2/orders:by_client_order_id").mock(return_value=httpx.Response(403, json={}))
    with pytest.raises(BrokerAuthError):
        await broker.order_by_client_id("gap-XYZ")


async def test_other_client_errors_are_broker_errors(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    api.get("/v2/account").mock(return_value=httpx.Response(400, json={"message": "bad"}))
    with pytest.raises(BrokerError, match="HTTP 400: bad"):
        await broker.account()


async def test_cancel_unknown_and_cancel_race(api: respx.MockRouter, broker: AlpacaBroker) -> None:
    lookup = api.get("/v2/orders:by_client_order_id")
    lookup.mock(return_value=httpx.Response(404, json={}))
    with pytest.raises(OrderNotFound):
        await broker.cancel("gap-XYZ")
    lookup.mock(
        side_effect=[
            httpx.Response(200, json=_wire()),
            httpx.Response(200, json=_wire("filled", filled_avg_price="20.5")),
        ]
    )
    api.delete("/v2/orders/b-1").mock(return_value=httpx.Response(422, json={"message": "no"}))
    assert (await broker.cancel("gap-XYZ")).status is OrderStatus.FILLED


async def test_cancel_refusal_other_than_a_race_is_an_error(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    api.get("/v2/orders:by_client_order_id").mock(return_value=httpx.Response(200, json=_wire()))
    api.delete("/v2/orders/b-1").mock(return_value=httpx.Response(400, json={"message": "x"}))
    with pytest.raises(BrokerError, match="HTTP 400"):
        await broker.cancel("gap-XYZ")


async def test_open_orders_skip_simple_orders_and_read_shorts(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    simple = {"id": "s", "client_order_id": "manual", "order_class": "simple"}
    route = api.get("/v2/orders").mock(return_value=httpx.Response(200, json=[simple, _wire()]))
    api.get("/v2/positions").mock(
        return_value=httpx.Response(
            200, json=[{"symbol": "XYZ", "qty": "-10", "side": "short", "avg_entry_price": "20.5"}]
        )
    )
    assert [o.client_order_id for o in await broker.open_orders()] == ["gap-XYZ"]
    assert route.calls.last.request.url.params["status"] == "open"
    assert await broker.positions() == [Position("XYZ", -10, Decimal("20.5"))]


async def test_close_of_a_working_entry_only_is_ok(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    api.get("/v2/orders").mock(return_value=httpx.Response(200, json=[_wire()]))
    api.get("/v2/orders/b-1").mock(return_value=httpx.Response(200, json=_wire()))
    cancel = api.delete("/v2/orders/b-1").mock(return_value=httpx.Response(204))
    api.delete("/v2/positions/XYZ").mock(return_value=httpx.Response(404, json={"message": "no"}))
    result = await broker.close("XYZ")
    assert result.ok and result.fill is None
    assert cancel.call_count == 1


async def test_close_all_keeps_ok_items_without_a_readable_fill(
    api: respx.MockRouter, broker: AlpacaBroker
) -> None:
    api.get("/v2/orders").mock(return_value=httpx.Response(200, json=[]))
    api.get("/v2/positions").mock(return_value=httpx.Response(200, json=[]))
    items = [
        {"symbol": "A", "status": 200, "body": {"id": "o", "status": "accepted"}},
        {"symbol": "B", "status": 200, "body": {"filled_avg_price": "1", "filled_at": "bad"}},
        {"symbol": "C", "status": 500, "body": "boom"},
    ]
    api.delete("/v2/positions").mock(return_value=httpx.Response(207, json=items))
    results = await broker.close_all()
    assert [(r.symbol, r.ok, r.fill, r.error) for r in results] == [
        ("A", True, None, None),
        ("B", True, None, None),
        ("C", False, None, "HTTP 500: boom"),
    ]


@pytest.mark.parametrize(
    ("broker_kind", "url", "confirm", "error"),
    [
        ("alpaca_live", "https://api.alpaca.markets", False, "confirm_live"),
        ("alpaca_live", "https://paper-api.alpaca.markets", True, "needs alpaca.trading_url"),
        ("alpaca_paper", "https://api.alpaca.markets/", False, "is the live endpoint"),
        ("alpaca_live", "https://api.alpaca.markets", True, None),
        ("alpaca_paper", "https://paper-api.alpaca.markets", False, None),
        ("paper", "https://api.alpaca.markets", False, None),
    ],
)
def test_live_mode_needs_confirmation_and_a_matching_url(
    broker_kind: str, url: str, confirm: bool, error: str | None
) -> None:
    if error is None:
        check_live_confirmed(broker_kind, url, confirm)
        return
    with pytest.raises(LiveTradingNotConfirmed, match=error) as caught:
        check_live_confirmed(broker_kind, url, confirm)
    assert "\n" not in str(caught.value)

"""AlpacaBroker over real HTTP against the fake Alpaca, with injected faults.

The server runs in a thread, so these tests use Trio's real clock and tiny back-offs; the
exact retry timing is asserted in virtual time in tests/unit/test_alpaca_http.py. The one
test that waits for a 429's Retry-After uses a MockClock whose autojump threshold (0.3 s of
real idleness) is far above a loopback round trip.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import trio
import trio.testing

from finagent.adapters.alpaca.broker import AlpacaBroker, BrokerAuthError
from finagent.adapters.alpaca.http import AlpacaHttp, RetryPolicy, TokenBucket
from finagent.domain.errors import (
    BrokerUnavailable,
    InsufficientBuyingPower,
    OrderRejected,
    PatternDayTrader,
)
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, OrderStatus
from tests.fakes.alpaca import FakeAlpacaState
from tests.fakes.alpaca.harness import open_rig


def _order(cid: str = "gap-20260310-ABC", qty: int = 100, symbol: str = "ABC") -> BracketOrder:
    return BracketOrder(
        cid, symbol, Side.LONG, qty, Decimal("10.00"), Decimal("9.50"), Decimal("11.00")
    )


@pytest.fixture
def idle_jump_clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after 0.3 s of real idleness (the server is a thread)."""
    return trio.testing.MockClock(autojump_threshold=0.3)


async def test_three_503s_then_success_counts_three_retries() -> None:
    async with open_rig() as rig:
        rig.state.inject("GET", "/v2/account", 503, times=3)
        account = await rig.broker.account()
        assert account.equity == Decimal("100000.00")
        assert rig.state.count("GET", "/v2/account") == 4
        assert rig.retries.calls == [("trading", "GET /v2/account", "server_error")] * 3
        outcomes = [c[2] for c in rig.requests.calls]
        assert outcomes == ["server_error"] * 3 + ["ok"]


async def test_429_with_retry_after_waits_then_succeeds(
    idle_jump_clock: trio.testing.MockClock,
) -> None:
    policy = RetryPolicy(attempts=3, base_s=0.001, max_wait_s=60)
    async with open_rig(policy=policy) as rig:
        rig.state.inject("GET", "/v2/positions", 429, headers={"Retry-After": "7"})
        t0 = trio.current_time()
        assert await rig.broker.positions() == []
        assert trio.current_time() - t0 >= 7
        assert rig.retries.calls == [("trading", "GET /v2/positions", "rate_limited")]


async def test_retries_exhausted_is_broker_unavailable() -> None:
    async with open_rig() as rig:
        rig.state.inject("GET", "/v2/account", 500, times=10)
        with pytest.raises(BrokerUnavailable, match="server_error"):
            await rig.broker.account()
        assert rig.state.count("GET", "/v2/account") == 4


async def test_submit_that_times_out_after_the_server_stored_it_leaves_one_order() -> None:
    state = FakeAlpacaState(hold_submit=threading.Event())
    async with open_rig(state, http_timeout=0.3) as rig:
        placed = await rig.broker.submit(_order())
        state.hold_submit.set()  # type: ignore[union-attr] - set just above
        assert placed.client_order_id == "gap-20260310-ABC"
        assert placed.status is OrderStatus.PENDING
        assert len(state.orders) == 1
        assert state.count("POST", "/v2/orders") == 1
        assert ("trading", "POST /v2/orders", "timeout") in rig.requests.calls


async def test_submit_after_a_503_that_stored_nothing_is_sent_again_once() -> None:
    async with open_rig() as rig:
        rig.state.inject("POST", "/v2/orders", 503)
        placed = await rig.broker.submit(_order())
        assert placed.status is OrderStatus.PENDING
        assert len(rig.state.orders) == 1
        assert rig.state.count("POST", "/v2/orders") == 2
        assert rig.state.count("GET", "/v2/orders:by_client_order_id") == 1
        assert rig.retries.calls == [("trading", "POST /v2/orders", "server_error")]


async def test_duplicate_client_order_id_422_returns_the_existing_order() -> None:
    async with open_rig() as rig:
        first = await rig.broker.submit(_order())
        again = await rig.broker.submit(_order(qty=7))
        assert again.broker_id == first.broker_id
        assert again.order.quantity == 100
        assert ("trading", "POST /v2/orders", "client_error") in rig.requests.calls
        assert len(rig.state.orders) == 1


async def test_insufficient_buying_power_is_a_typed_rejection_with_the_reason() -> None:
    async with open_rig() as rig:
        with pytest.raises(InsufficientBuyingPower) as caught:
            await rig.broker.submit(_order(qty=1_000_000))
        assert caught.value.reason == "insufficient buying power"
        assert caught.value.client_order_id == "gap-20260310-ABC"
        assert rig.state.count("POST", "/v2/orders") == 1
        assert rig.retries.calls == []


async def test_pattern_day_trader_403_is_typed() -> None:
    async with open_rig() as rig:
        body = {"code": 40310100, "message": "trade denied due to pattern day trading protection"}
        rig.state.inject("POST", "/v2/orders", 403, body=body)
        with pytest.raises(PatternDayTrader, match="pattern day"):
            await rig.broker.submit(_order())


async def test_other_422_is_a_plain_rejection() -> None:
    async with open_rig() as rig:
        body = {"code": 40010001, "message": "qty must be > 0"}
        rig.state.inject("POST", "/v2/orders", 422, body=body)
        with pytest.raises(OrderRejected, match=r"HTTP 422 \(code 40010001\): qty must be > 0"):
            await rig.broker.submit(_order())
        assert rig.state.count("POST", "/v2/orders") == 1 and rig.retries.calls == []


async def test_bad_keys_are_an_auth_error() -> None:
    async with open_rig(secret_key="wrong") as rig:
        with pytest.raises(BrokerAuthError, match="not authorized"):
            await rig.broker.account()
        assert rig.retries.calls == []


async def test_close_all_207_reports_the_failing_symbol_and_closes_the_rest() -> None:
    async with open_rig() as rig:
        for symbol in ("ABC", "XYZ"):
            placed = await rig.broker.submit(_order(f"gap-{symbol}", symbol=symbol))
            rig.state.fill_entry(placed.client_order_id)
        rig.state.close_failures["XYZ"] = (403, "insufficient qty available for order")
        results = {r.symbol: r for r in await rig.broker.close_all()}
        assert results["ABC"].ok and results["ABC"].fill is not None
        assert not results["XYZ"].ok
        assert results["XYZ"].error == "HTTP 403: insufficient qty available for order"
        assert [p.symbol for p in await rig.broker.positions()] == ["XYZ"]


async def test_close_all_when_the_call_fails_reports_every_symbol() -> None:
    async with open_rig() as rig:
        placed = await rig.broker.submit(_order())
        rig.state.fill_entry(placed.client_order_id)
        rig.state.inject("DELETE", "/v2/positions", 500, times=10)
        [result] = await rig.broker.close_all()
        assert result.symbol == "ABC" and not result.ok
        assert result.error is not None and "server_error" in result.error


async def test_close_frees_the_exit_legs_before_closing() -> None:
    async with open_rig() as rig:
        placed = await rig.broker.submit(_order())
        rig.state.fill_entry(placed.client_order_id)
        rig.state.set_price("ABC", Decimal("10.20"))
        result = await rig.broker.close("ABC")
        assert result.ok and result.fill is not None and result.fill.price == Decimal("10.20")
        closed = await rig.broker.order_by_client_id(placed.client_order_id)
        assert closed is not None and closed.status is OrderStatus.CLOSED


async def test_close_reports_an_unavailable_broker_as_a_failure() -> None:
    async with open_rig() as rig:
        rig.state.inject("GET", "/v2/orders", 503, times=10)
        result = await rig.broker.close("ABC")
        assert not result.ok
        assert result.error == "open orders: server_error 503 (outcome unknown)"


async def test_a_leg_hit_by_the_price_closes_the_bracket_as_target() -> None:
    async with open_rig() as rig:
        placed = await rig.broker.submit(_order())
        rig.state.fill_entry(placed.client_order_id)
        rig.state.set_price("ABC", Decimal("11.10"))
        done = await rig.broker.order_by_client_id(placed.client_order_id)
        assert done is not None and done.status is OrderStatus.CLOSED
        assert done.exit_price == Decimal("11.00") and done.exit_kind == "target"
        assert await rig.broker.open_orders() == []


async def test_a_slow_limiter_spaces_real_requests() -> None:
    async with open_rig() as rig:
        slow = AlpacaBroker(
            AlpacaHttp(rig.client, port="trading", limiter=TokenBucket(6000, burst=1))
        )
        t0 = trio.current_time()
        for _ in range(3):
            await slow.account()
        assert trio.current_time() - t0 >= 2 * 60 / 5999

"""finagent.brokers: start-up refusals, Alpaca adapters from settings, start-up reconciliation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from finagent.adapters.reconcile import ReconciliationError
from finagent.brokers import (
    BrokerSetupError,
    ReconcilingExecution,
    check_trading_settings,
    open_alpaca,
    our_book,
    session_day,
    trail_book,
    uses_alpaca,
)
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, FillKind, Position, client_order_id
from finagent.observability import Metrics
from finagent.observability.logs import _SECRETS
from finagent.ports.trading import JobTrail
from finagent.settings import load_settings
from tests.fakes import FakeBroker, FakeClock
from tests.fakes_alpaca import FakeAlpacaState, running_fake_alpaca
from tests.fakes_alpaca.harness import FAST

KEYS = {"FINAGENT_ALPACA__KEY_ID": "test-key", "FINAGENT_ALPACA__SECRET_KEY": "test-secret"}
NOW = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)


def _settings(env: dict[str, str] | None = None, **overrides: Any) -> Any:
    return load_settings(None, overrides, environ=dict(KEYS if env is None else env)).settings


def _order(key: str = "2025-01-06:execute:ABC", symbol: str = "ABC", qty: int = 10) -> BracketOrder:
    return BracketOrder(
        client_order_id(key), symbol, Side.LONG, qty,
        Decimal("10.00"), Decimal("9.50"), Decimal("11.00"),
    )  # fmt: skip


# ---- start-up refusals -------------------------------------------------------------------


def test_paper_broker_on_the_sim_feed_needs_nothing():
    settings = _settings(env={})
    assert not uses_alpaca(settings)
    check_trading_settings(settings)  # no keys, no error


@pytest.mark.parametrize(
    ("overrides", "who"),
    [({"broker": "alpaca_paper"}, "broker alpaca_paper"), ({"feed": "alpaca"}, "feed alpaca")],
)
def test_missing_keys_are_one_line(overrides, who):
    with pytest.raises(BrokerSetupError) as err:
        check_trading_settings(_settings(env={}, **overrides))
    assert str(err.value) == (
        f"{who} needs FINAGENT_ALPACA__KEY_ID and FINAGENT_ALPACA__SECRET_KEY"
    )


def test_one_key_alone_is_refused():
    env = {"FINAGENT_ALPACA__KEY_ID": "k"}
    with pytest.raises(BrokerSetupError, match="needs FINAGENT_ALPACA__KEY_ID"):
        check_trading_settings(_settings(env=env, broker="alpaca_paper"))


def test_live_without_confirmation_is_one_line():
    live = {"trading_url": "https://api.alpaca.markets"}
    with pytest.raises(BrokerSetupError) as err:
        check_trading_settings(_settings(broker="alpaca_live", alpaca=live))
    message = str(err.value)
    assert "\n" not in message and "alpaca.confirm_live: true" in message
    check_trading_settings(_settings(broker="alpaca_live", alpaca={**live, "confirm_live": True}))


def test_a_url_for_the_other_mode_is_refused():
    with pytest.raises(BrokerSetupError, match=r"alpaca_live needs alpaca\.trading_url"):
        check_trading_settings(_settings(broker="alpaca_live", alpaca={"confirm_live": True}))
    live = {"trading_url": "https://api.alpaca.markets/"}
    with pytest.raises(BrokerSetupError, match="the live endpoint"):
        check_trading_settings(_settings(broker="alpaca_paper", alpaca=live))


async def test_open_alpaca_refuses_before_building_anything():
    with pytest.raises(BrokerSetupError, match="needs FINAGENT_ALPACA__KEY_ID"):
        async with open_alpaca(_settings(env={}, broker="alpaca_paper"), Metrics()):
            raise AssertionError("must not open")  # pragma: no cover - the point of the test


# ---- adapters over the fake Alpaca (real HTTP on 127.0.0.1) ---------------------------------


def _sample(metrics: Metrics, name: str, port: str, endpoint: str, outcome: str) -> float | None:
    labels = {"port": port, "endpoint": endpoint, "outcome": outcome}
    return metrics.registry.get_sample_value(name, labels)


async def test_adapters_reach_the_configured_urls_with_the_key_headers():
    state = FakeAlpacaState()
    metrics = Metrics(process_collectors=False)
    with running_fake_alpaca(state) as url:
        urls = {"trading_url": url, "data_url": url}
        settings = _settings(broker="alpaca_paper", feed="alpaca", alpaca=urls)
        async with open_alpaca(settings, metrics, policy=FAST) as parts:
            assert parts.broker is not None and parts.market is not None
            assert parts.news is not None
            assert str(parts.trading.base_url).rstrip("/") == url
            account = await parts.broker.account()  # 401 unless both key headers arrived
            assert account.equity == Decimal("100000.00")
            start = NOW - timedelta(days=1)
            assert await parts.news.headlines(["ABC"], start, NOW) == []
        assert parts.trading.is_closed and parts.data.is_closed
    assert state.requests == [("GET", "/v2/account"), ("GET", "/v1beta1/news")]
    requests = "finagent_api_requests_total"
    assert _sample(metrics, requests, "broker", "GET /v2/account", "ok") == 1
    assert _sample(metrics, requests, "news", "GET /v1beta1/news", "ok") == 1
    assert _SECRETS.scrub("key test-secret") != "key test-secret"  # registered for scrubbing


async def test_retries_are_counted_per_port_endpoint_and_outcome():
    state = FakeAlpacaState()
    state.inject("GET", "/v2/positions", 503)
    state.inject("GET", "/v2/positions", 429, headers={"Retry-After": "0"})
    metrics = Metrics(process_collectors=False)
    with running_fake_alpaca(state) as url:
        settings = _settings(broker="alpaca_paper", alpaca={"trading_url": url})
        async with open_alpaca(settings, metrics, policy=FAST) as parts:
            assert parts.broker is not None
            assert await parts.broker.positions() == []
    endpoint = "GET /v2/positions"
    retries, requests = "finagent_api_retries_total", "finagent_api_requests_total"
    assert _sample(metrics, retries, "broker", endpoint, "server_error") == 1
    assert _sample(metrics, retries, "broker", endpoint, "rate_limited") == 1
    assert _sample(metrics, requests, "broker", endpoint, "server_error") == 1
    assert _sample(metrics, requests, "broker", endpoint, "ok") == 1


async def test_each_setting_selects_only_its_part():
    metrics = Metrics(process_collectors=False)
    async with open_alpaca(_settings(broker="alpaca_paper"), metrics) as parts:
        assert parts.broker is not None and parts.market is None and parts.news is None
        assert parts.trading.headers["APCA-API-KEY-ID"] == "test-key"
        assert str(parts.trading.base_url).startswith("https://paper-api.alpaca.markets")
        assert str(parts.data.base_url).startswith("https://data.alpaca.markets")
    async with open_alpaca(_settings(feed="alpaca"), metrics) as parts:
        assert parts.broker is None and parts.market is not None and parts.news is not None


# ---- our book and start-up reconciliation -----------------------------------------------------


def _filled(broker: FakeBroker, order: BracketOrder) -> None:
    broker.orders[order.client_order_id] = replace(
        broker.orders[order.client_order_id], filled_price=order.entry, filled_at=NOW
    )


async def test_our_book_nets_our_orders_fills():
    clock = FakeClock(NOW)
    broker = FakeBroker(clock)
    held, closed, working = _order("a", "ABC", 10), _order("b", "XYZ", 5), _order("c", "QQQ")
    for order in (held, closed, working):
        await broker.submit(order)
    _filled(broker, held)
    broker.orders[closed.client_order_id] = replace(
        broker.orders[closed.client_order_id], filled_price=Decimal(10), filled_at=NOW,
        exit_price=Decimal(11), exit_kind=FillKind.TARGET, closed_at=NOW,
    )  # fmt: skip
    assert our_book(list(broker.orders.values())) == [Position("ABC", 10, Decimal("10.00"))]


class _Records:
    def __init__(self, trail: list[JobTrail]) -> None:
        self.trail = trail
        self.days: list[str] = []

    async def session_jobs(self, session_date: str) -> list[JobTrail]:
        self.days.append(session_date)
        return self.trail


class _Inner:
    def __init__(self) -> None:
        self.started = 0
        self.jobs: list[Any] = []

    async def start(self) -> None:
        self.started += 1

    async def handle(self, job: Any, payload: Any) -> list[Any]:
        self.jobs.append((job, payload))
        return []


def _trail(key: str, approved: bool = True) -> JobTrail:
    return JobTrail("execute", key, "done", 1, {"approved": approved}, 0.0, 0.0, 1.0, None)


async def test_reconciling_execution_starts_when_the_books_agree():
    clock = FakeClock(NOW)
    broker = FakeBroker(clock)
    mine, adopted = _order("mine", "ABC"), _order("theirs", "XYZ")
    await broker.submit(mine)
    await broker.submit(adopted)
    records = _Records([_trail("mine"), _trail("rejected", approved=False), _trail("gone")])
    today = session_day(clock.now, "America/New_York")
    inner = _Inner()
    execution = ReconcilingExecution(inner, broker, trail_book(records, broker, today))
    await execution.start()
    assert inner.started == 1 and records.days == ["2025-01-06"]
    assert execution.last is not None and execution.last.consistent
    assert [o.client_order_id for o in execution.last.adopted] == [adopted.client_order_id]
    assert await execution.handle("job", "payload") == [] and inner.jobs == [("job", "payload")]


async def test_reconciling_execution_refuses_a_position_it_does_not_know():
    clock = FakeClock(NOW)
    broker = FakeBroker(clock)
    stranger = _order("stranger", "ABC", 7)
    await broker.submit(stranger)
    broker.fill_entry(stranger.client_order_id)  # the broker holds 7 ABC we never traded
    inner = _Inner()
    execution = ReconcilingExecution(
        inner, broker, trail_book(_Records([]), broker, lambda: "2025-01-06")
    )
    with pytest.raises(ReconciliationError, match="ABC: ours 0, broker 7"):
        await execution.start()
    assert inner.started == 0  # nothing may be sent
    tolerant = ReconcilingExecution(
        inner, broker, trail_book(_Records([]), broker, lambda: "2025-01-06"), tolerance_shares=7
    )
    await tolerant.start()
    assert inner.started == 1

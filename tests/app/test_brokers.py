"""finagent.app.alpaca: start-up refusals and the Alpaca adapters from settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from finagent.app.alpaca import (
    BrokerSetupError,
    check_trading_settings,
    open_alpaca,
    uses_alpaca,
)
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, client_order_id
from finagent.observability import Metrics
from finagent.observability.logs import _SECRETS
from finagent.settings import load_settings
from tests.fakes.alpaca import FakeAlpacaState, running_fake_alpaca
from tests.fakes.alpaca.harness import FAST

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
    assert _sample(metrics, requests, "trading", "GET /v2/account", "ok") == 1
    assert _sample(metrics, requests, "data", "GET /v1beta1/news", "ok") == 1
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
    assert _sample(metrics, retries, "trading", endpoint, "server_error") == 1
    assert _sample(metrics, retries, "trading", endpoint, "rate_limited") == 1
    assert _sample(metrics, requests, "trading", endpoint, "server_error") == 1
    assert _sample(metrics, requests, "trading", endpoint, "ok") == 1


async def test_each_setting_selects_only_its_part():
    metrics = Metrics(process_collectors=False)
    async with open_alpaca(_settings(broker="alpaca_paper"), metrics) as parts:
        assert parts.broker is not None and parts.market is None and parts.news is None
        assert parts.trading.headers["APCA-API-KEY-ID"] == "test-key"
        assert str(parts.trading.base_url).startswith("https://paper-api.alpaca.markets")
        assert str(parts.data.base_url).startswith("https://data.alpaca.markets")
    async with open_alpaca(_settings(feed="alpaca"), metrics) as parts:
        assert parts.broker is None and parts.market is not None and parts.news is not None

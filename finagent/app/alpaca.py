"""Alpaca at the composition root: settings in, httpx clients and the Alpaca adapters out.

``feed: alpaca`` selects :class:`AlpacaMarketData` and :class:`AlpacaNews`; ``broker:
alpaca_paper | alpaca_live`` selects :class:`AlpacaBroker`. One ``httpx.AsyncClient`` and one
:class:`TokenBucket` per API (trading, data) are shared by every adapter that calls it; every
request and retry is counted in ``finagent_api_requests_total`` / ``finagent_api_retries_total``.

Start-up refusals (missing keys, live trading not confirmed, a URL for the other mode) are
:class:`BrokerSetupError`: one line, which the app reports with exit code 2.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from finagent.adapters.alpaca.broker import (
    AlpacaBroker,
    LiveTradingNotConfirmed,
    check_live_confirmed,
)
from finagent.adapters.alpaca.http import (
    DEFAULT_TIMEOUT,
    AlpacaHttp,
    ApiHook,
    RetryPolicy,
    TokenBucket,
    alpaca_headers,
)
from finagent.adapters.alpaca.market import AlpacaMarketData, AlpacaNews
from finagent.domain.errors import ConfigError
from finagent.observability import register_secret

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from finagent.observability import Metrics
    from finagent.settings import Settings

__all__ = [
    "AlpacaParts",
    "BrokerSetupError",
    "api_hooks",
    "check_trading_settings",
    "open_alpaca",
    "uses_alpaca",
]

log = logging.getLogger(__name__)


class BrokerSetupError(ConfigError):
    """The broker or feed settings cannot work (keys, live confirmation); one line, exit 2."""


@dataclass(frozen=True, slots=True)
class AlpacaParts:
    """The Alpaca adapters the settings ask for (None: that part stays simulated)."""

    broker: AlpacaBroker | None
    market: AlpacaMarketData | None
    news: AlpacaNews | None
    trading: httpx.AsyncClient
    data: httpx.AsyncClient


def uses_alpaca(settings: Settings) -> bool:
    """True when the feed or the broker is Alpaca."""
    return settings.feed == "alpaca" or settings.broker != "paper"


def check_trading_settings(settings: Settings) -> None:
    """Refuse settings that cannot trade: missing keys, unconfirmed live, a contradicting URL.

    Raises:
        BrokerSetupError: one line saying what to set.
    """
    if not uses_alpaca(settings):
        return
    a = settings.alpaca
    if a.key_id is None or a.secret_key is None:
        who = f"broker {settings.broker}" if settings.broker != "paper" else "feed alpaca"
        raise BrokerSetupError(
            f"{who} needs FINAGENT_ALPACA__KEY_ID and FINAGENT_ALPACA__SECRET_KEY"
        )
    if settings.broker != "paper":
        try:
            check_live_confirmed(settings.broker, a.trading_url, a.confirm_live)
        except LiveTradingNotConfirmed as exc:
            raise BrokerSetupError(str(exc)) from None


def api_hooks(metrics: Metrics) -> tuple[ApiHook, ApiHook]:
    """``(on_request, on_retry)`` feeding the API request and retry counters."""

    def on_request(port: str, endpoint: str, outcome: str) -> None:
        metrics.api_requests.labels(port, endpoint, outcome).inc()

    def on_retry(port: str, endpoint: str, outcome: str) -> None:
        metrics.api_retries.labels(port, endpoint, outcome).inc()

    return on_request, on_retry


@asynccontextmanager
async def open_alpaca(
    settings: Settings,
    metrics: Metrics,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    policy: RetryPolicy | None = None,
) -> AsyncIterator[AlpacaParts]:
    """Build the clients and the adapters ``settings`` select; close the clients on exit.

    ``transport`` (tests): serve every request in-process instead of over the network.

    Raises:
        BrokerSetupError: see :func:`check_trading_settings`.
    """
    check_trading_settings(settings)
    a = settings.alpaca
    assert a.key_id is not None and a.secret_key is not None  # checked above
    key_id, secret = a.key_id.get_secret_value(), a.secret_key.get_secret_value()
    register_secret(key_id)
    register_secret(secret)
    headers = alpaca_headers(key_id, secret)
    on_request, on_retry = api_hooks(metrics)
    async with AsyncExitStack() as stack:

        def client(url: str) -> httpx.AsyncClient:
            made = httpx.AsyncClient(
                base_url=url, headers=headers, timeout=DEFAULT_TIMEOUT, transport=transport
            )
            stack.push_async_callback(made.aclose)
            return made

        trading, data = client(a.trading_url), client(a.data_url)
        # One AlpacaHttp per API, shared by the adapters that call it (and its rate limit).
        trading_api, data_api = (
            AlpacaHttp(c, port=name, limiter=TokenBucket(a.rate_per_min), policy=policy,
                       on_request=on_request, on_retry=on_retry)
            for c, name in ((trading, "trading"), (data, "data"))
        )  # fmt: skip
        broker = market = news = None
        if settings.broker != "paper":
            broker = AlpacaBroker(trading_api)
        if settings.feed == "alpaca":
            market = AlpacaMarketData(data_api, trading_api, feed=a.data_feed)
            news = AlpacaNews(data_api)
        log.info("alpaca: feed %s, broker %s at %s", settings.feed, settings.broker, a.trading_url)
        yield AlpacaParts(broker, market, news, trading, data)

"""Alpaca at the composition root: settings in, httpx clients and the Alpaca adapters out.

``feed: alpaca`` selects :class:`AlpacaMarketData` and :class:`AlpacaNews`; ``broker:
alpaca_paper | alpaca_live`` selects :class:`AlpacaBroker`. One ``httpx.AsyncClient`` and one
:class:`TokenBucket` per API (trading, data) are shared by every adapter that calls it; every
request and retry is counted in ``finagent_api_requests_total`` / ``finagent_api_retries_total``.

Start-up refusals (missing keys, live trading not confirmed, a URL for the other mode) are
:class:`BrokerSetupError`: one line, which the app reports with exit code 2.

:class:`ReconcilingExecution` wraps the execution stage so that, on every (re)start and before
anything is sent, our book is reconciled with Alpaca's (:mod:`finagent.adapters.reconcile`).
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, final
from zoneinfo import ZoneInfo

import httpx

from finagent.adapters.alpaca_broker import (
    AlpacaBroker,
    LiveTradingNotConfirmed,
    check_live_confirmed,
)
from finagent.adapters.alpaca_http import (
    DEFAULT_TIMEOUT,
    ApiHook,
    RetryPolicy,
    TokenBucket,
    alpaca_headers,
)
from finagent.adapters.alpaca_market import AlpacaMarketData, AlpacaNews
from finagent.adapters.reconcile import (
    Reconciliation,
    reconcile_with_broker,
    require_consistent,
)
from finagent.domain.orders import (
    BrokerOrder,
    OrderSide,
    OrderStatus,
    Position,
    client_order_id,
)
from finagent.observability import register_secret
from finagent.services.reporter import fills_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
    from datetime import datetime

    from finagent.domain.job_types import JobPayload
    from finagent.domain.jobs import Job, NewJob
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.trading import TradingRecords
    from finagent.services.stage import JobHandler
    from finagent.settings import Settings

__all__ = [
    "AlpacaParts",
    "BrokerSetupError",
    "ReconcilingExecution",
    "api_hooks",
    "check_trading_settings",
    "open_alpaca",
    "our_book",
    "session_day",
    "trail_book",
    "uses_alpaca",
]

log = logging.getLogger(__name__)

Book = tuple["Sequence[BrokerOrder]", "Sequence[Position]"]


class BrokerSetupError(Exception):
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
    trading_limiter, data_limiter = TokenBucket(a.rate_per_min), TokenBucket(a.rate_per_min)
    async with AsyncExitStack() as stack:

        def client(url: str) -> httpx.AsyncClient:
            made = httpx.AsyncClient(
                base_url=url, headers=headers, timeout=DEFAULT_TIMEOUT, transport=transport
            )
            stack.push_async_callback(made.aclose)
            return made

        trading, data = client(a.trading_url), client(a.data_url)
        broker = market = news = None
        if settings.broker != "paper":
            broker = AlpacaBroker(
                trading, limiter=trading_limiter, policy=policy,
                on_request=on_request, on_retry=on_retry,
            )  # fmt: skip
        if settings.feed == "alpaca":
            market = AlpacaMarketData(
                data, trading, data_limiter=data_limiter, trading_limiter=trading_limiter,
                feed=a.data_feed, policy=policy, on_request=on_request, on_retry=on_retry,
            )  # fmt: skip
            news = AlpacaNews(
                data, limiter=data_limiter, policy=policy,
                on_request=on_request, on_retry=on_retry,
            )  # fmt: skip
        log.info("alpaca: feed %s, broker %s at %s", settings.feed, settings.broker, a.trading_url)
        yield AlpacaParts(broker, market, news, trading, data)


def our_book(orders: Sequence[BrokerOrder]) -> list[Position]:
    """Net positions our own orders' fills imply (quantity only is compared)."""
    net: dict[str, tuple[int, Decimal]] = {}
    for order in orders:
        for fill in fills_of(order):
            signed = fill.quantity if fill.side is OrderSide.BUY else -fill.quantity
            qty, _ = net.get(fill.symbol, (0, Decimal(0)))
            net[fill.symbol] = (qty + signed, fill.price)
    return [Position(sym, qty, px) for sym, (qty, px) in sorted(net.items()) if qty != 0]


def trail_book(
    records: TradingRecords, broker: Broker, today: Callable[[], str]
) -> Callable[[], Awaitable[Book]]:
    """Our book: today's approved ``execute`` jobs, their orders as the broker has them."""

    async def book() -> Book:
        orders: list[BrokerOrder] = []
        for t in await records.session_jobs(today()):
            if t.type == "execute" and t.payload.get("approved"):
                found = await broker.order_by_client_id(client_order_id(t.key))
                if found is not None:
                    orders.append(found)
        return [o for o in orders if o.status is OrderStatus.PENDING], our_book(orders)

    return book


def session_day(now: Callable[[], datetime], tz: str) -> Callable[[], str]:
    """Today's session date (ISO) in the exchange's zone, from a clock's ``now``."""
    zone = ZoneInfo(tz)
    return lambda: now().astimezone(zone).date().isoformat()


@final
class ReconcilingExecution:
    """The execution stage's handler, reconciled with the broker at every (re)start."""

    def __init__(
        self,
        inner: JobHandler,
        broker: Broker,
        book: Callable[[], Awaitable[Book]],
        tolerance_shares: int = 0,
    ) -> None:
        self._inner = inner
        self._broker = broker
        self._book = book
        self._tolerance = tolerance_shares
        self.last: Reconciliation | None = None

    async def start(self) -> None:
        """Reconcile; a position mismatch raises ``ReconciliationError`` (no trading)."""
        orders, positions = await self._book()
        result = await reconcile_with_broker(self._broker, orders, positions, self._tolerance)
        self.last = result
        log.info("reconciled with the broker: %s", result.summary())
        require_consistent(result)
        await self._inner.start()

    async def handle(self, job: Job, payload: JobPayload) -> Sequence[NewJob]:
        """Delegate to the execution handler."""
        return await self._inner.handle(job, payload)

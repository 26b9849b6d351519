"""HTTP plumbing shared by the Alpaca adapters: rate limit, retries, error translation.

Every call goes through :class:`AlpacaHttp`: a client-side :class:`TokenBucket` (one per API,
shared by every adapter that calls it), then the request, then a verdict:

- 2xx: the response.
- 429, 5xx, timeouts, connect and protocol errors: :class:`RetryableError`. tenacity retries
  it with exponential back-off and full jitter; a 429 waits what ``Retry-After`` (or
  ``X-Ratelimit-Reset``) says instead. Sleeps are ``trio.sleep``, so virtual time works.
  Once the attempts are spent the adapter's "unavailable" error is raised.
- any other 4xx: :class:`AlpacaApiError` at once (never retried).

Keys travel only in the client's default headers (built by the caller with
:func:`alpaca_headers`). Nothing here logs a header or a body; logs name the endpoint label.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, TypeVar, final

import httpx
import trio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

__all__ = [
    "DEFAULT_TIMEOUT",
    "AlpacaApiError",
    "AlpacaHttp",
    "ApiHook",
    "RetryPolicy",
    "RetryableError",
    "TokenBucket",
    "alpaca_headers",
    "json_body",
    "noop_hook",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Timeouts for the coordinator's ``httpx.AsyncClient``: 10 s overall, 5 s to connect.
DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)

ApiHook = Callable[[str, str, str], None]
"""``hook(port, endpoint, outcome)``: counts requests and retries (Prometheus lands here)."""


def noop_hook(port: str, endpoint: str, outcome: str) -> None:
    """The default hook: does nothing."""


def alpaca_headers(key_id: str, secret_key: str) -> dict[str, str]:
    """The default headers of an Alpaca client: the two key headers and JSON."""
    return {
        "APCA-API-KEY-ID": key_id,
        "APCA-API-SECRET-KEY": secret_key,
        "Accept": "application/json",
    }


def json_body(response: httpx.Response) -> Any:
    """The decoded body, every JSON number with a fraction as ``Decimal`` (never ``float``)."""
    return response.json(parse_float=Decimal)


class AlpacaApiError(Exception):
    """A definitive 4xx answer (never retried): the status and Alpaca's ``code``/``message``."""

    def __init__(self, endpoint: str, status: int, message: str, code: int | None = None) -> None:
        super().__init__(f"{endpoint}: HTTP {status}: {message}")
        self.endpoint = endpoint
        self.status = status
        self.message = message
        self.code = code

    @classmethod
    def from_response(cls, endpoint: str, response: httpx.Response) -> AlpacaApiError:
        """Read ``{"code": int, "message": str}`` (or the raw text) from an error response."""
        message, code = _error_body(response)
        return cls(endpoint, response.status_code, message, code)


def _error_body(response: httpx.Response) -> tuple[str, int | None]:
    try:
        data = response.json()
    except ValueError:
        return (response.text.strip()[:200] or response.reason_phrase), None
    if isinstance(data, dict):
        code = data.get("code")
        message = str(data.get("message") or response.reason_phrase)
        return message, code if isinstance(code, int) else None
    return str(data)[:200], None


class RetryableError(Exception):
    """A transient failure (429, 5xx, timeout, network): the outcome of a write is unknown."""

    def __init__(self, outcome: str, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{outcome} {detail}".strip())
        self.outcome = outcome
        self.retry_after = retry_after


@final
class TokenBucket:
    """At most ``rate_per_min`` requests in any minute, shared by every caller of one API.

    Up to ``burst`` requests go at once; the bucket then refills at ``(rate - burst)`` per
    minute, so a burst plus a minute of refill never exceeds the rate. Callers queue FIFO.
    """

    def __init__(self, rate_per_min: int, burst: int | None = None) -> None:
        if rate_per_min < 1:
            raise ValueError("rate_per_min must be at least 1")
        self._burst = burst if burst is not None else max(1, min(10, rate_per_min // 10))
        self._per_s = max(rate_per_min - self._burst, 1) / 60.0
        self._tokens = float(self._burst)
        self._stamp: float | None = None
        self._lock = trio.Lock()

    async def acquire(self) -> None:
        """Take one token, sleeping (trio time) until one is available."""
        async with self._lock:
            now = trio.current_time()
            if self._stamp is not None:
                self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._per_s)
            self._stamp = now
            if self._tokens < 1:
                await trio.sleep((1 - self._tokens) / self._per_s)
                self._stamp = trio.current_time()
                self._tokens = 1.0
            self._tokens -= 1


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried.

    Attributes:
        attempts: tries in all (the first one included).
        base_s: the back-off of the first retry; it doubles each retry, capped at ``max_s``,
            and the actual sleep is uniform in ``[0, back-off]`` (full jitter).
        max_wait_s: the longest a 429's ``Retry-After`` / ``X-Ratelimit-Reset`` is honoured.
        wall: epoch seconds now (for ``X-Ratelimit-Reset`` and HTTP-date ``Retry-After``).
        jitter: a uniform draw in ``[0, 1)``.
    """

    attempts: int = 5
    base_s: float = 0.5
    max_s: float = 30.0
    max_wait_s: float = 60.0
    wall: Callable[[], float] = field(default=time.time)
    jitter: Callable[[], float] = field(default=random.random)

    def backoff(self, retry_number: int, retry_after: float | None) -> float:
        """Seconds to sleep before retry ``retry_number`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_wait_s)
        return self.jitter() * min(self.max_s, self.base_s * 2.0 ** (retry_number - 1))

    def retry_after(self, response: httpx.Response) -> float | None:
        """Seconds a 429 asks us to wait, from ``Retry-After`` or ``X-Ratelimit-Reset``."""
        value = response.headers.get("Retry-After")
        if value:
            try:
                return float(value)
            except ValueError:
                try:
                    return email.utils.parsedate_to_datetime(value).timestamp() - self.wall()
                except (TypeError, ValueError):
                    pass
        reset = response.headers.get("X-Ratelimit-Reset")
        if reset:
            try:
                return float(reset) - self.wall()
            except ValueError:
                return None
        return None


@final
class AlpacaHttp:
    """Rate-limited, retried JSON calls to one Alpaca API (``trading`` or ``data``).

    One per API, shared by every adapter that calls it, so they share its rate limit.
    ``port`` labels the request and retry counters.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        port: str,
        limiter: TokenBucket,
        policy: RetryPolicy | None = None,
        on_request: ApiHook = noop_hook,
        on_retry: ApiHook = noop_hook,
    ) -> None:
        self._client = client
        self.port = port
        self._limiter = limiter
        self.policy = policy or RetryPolicy()
        self._on_request = on_request
        self._on_retry = on_retry

    async def get_json(
        self, path: str, endpoint: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        """GET with retries; the decoded JSON body."""
        response = await self.retrying(endpoint, lambda: self.once("GET", path, endpoint, params))
        return json_body(response)

    async def send(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Any idempotent method with retries."""
        return await self.retrying(
            endpoint, lambda: self.once(method, path, endpoint, params, json)
        )

    async def retrying(self, endpoint: str, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``call`` until it stops raising :class:`RetryableError` or attempts run out.

        Raises:
            RetryableError: the last transient failure, once the attempts are spent.
        """
        retrying = AsyncRetrying(
            sleep=trio.sleep,
            stop=stop_after_attempt(self.policy.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableError),
            before_sleep=lambda state: self._count_retry(endpoint, state),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("tenacity ends with a result or the last error")

    async def once(
        self,
        method: str,
        path: str,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """One rate-limited request, classified (see the module docstring)."""
        await self._limiter.acquire()
        try:
            response = await self._client.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            self._on_request(self.port, endpoint, "timeout")
            raise RetryableError("timeout") from exc
        except httpx.TransportError as exc:
            self._on_request(self.port, endpoint, "network_error")
            raise RetryableError("network_error", type(exc).__name__) from exc
        status = response.status_code
        if status == 429:
            self._on_request(self.port, endpoint, "rate_limited")
            raise RetryableError("rate_limited", "429", self.policy.retry_after(response))
        if status >= 500:
            self._on_request(self.port, endpoint, "server_error")
            raise RetryableError("server_error", str(status))
        if status >= 400:
            self._on_request(self.port, endpoint, "client_error")
            raise AlpacaApiError.from_response(endpoint, response)
        self._on_request(self.port, endpoint, "ok")
        return response

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
        return self.policy.backoff(state.attempt_number, retry_after)

    def _count_retry(self, endpoint: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        outcome = exc.outcome if isinstance(exc, RetryableError) else "error"
        self._on_retry(self.port, endpoint, outcome)
        sleep = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "retrying %s after %s (attempt %d), sleeping %.2fs",
            endpoint,
            exc,
            state.attempt_number,
            sleep,
        )

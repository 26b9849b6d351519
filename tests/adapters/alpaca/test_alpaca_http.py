"""AlpacaHttp and TokenBucket in virtual time (respx answers; MockClock autojumps)."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx
import trio

from finagent.adapters.alpaca.http import (
    AlpacaApiError,
    AlpacaHttp,
    RetryableError,
    RetryPolicy,
    TokenBucket,
    alpaca_headers,
)

BASE = "https://alpaca.test"
WALL = 1_700_000_000.0


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=BASE, headers=alpaca_headers("k", "s")) as c:
        yield c


def _http(
    client: httpx.AsyncClient, calls: list[tuple[str, str, str]], **policy: object
) -> AlpacaHttp:
    settings: dict[str, object] = {"wall": lambda: WALL, "jitter": lambda: 1.0, **policy}
    return AlpacaHttp(
        client,
        port="broker",
        limiter=TokenBucket(100_000),
        policy=RetryPolicy(**settings),  # type: ignore[arg-type]
        on_request=lambda *c: calls.append(("request", c[1], c[2])),
        on_retry=lambda *c: calls.append(("retry", c[1], c[2])),
    )


OK = httpx.Response(200, json={"ok": True})


async def test_429_waits_exactly_retry_after(
    api: respx.MockRouter, client: httpx.AsyncClient, autojump_clock: trio.abc.Clock
) -> None:
    api.get("/v2/account").mock(side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), OK])
    calls: list[tuple[str, str, str]] = []
    t0 = trio.current_time()
    assert await _http(client, calls).get_json("/v2/account", "GET /v2/account") == {"ok": True}
    assert trio.current_time() - t0 == 7
    assert calls == [
        ("request", "GET /v2/account", "rate_limited"),
        ("retry", "GET /v2/account", "rate_limited"),
        ("request", "GET /v2/account", "ok"),
    ]


@pytest.mark.parametrize(
    ("headers", "waited"),
    [
        ({"X-Ratelimit-Reset": str(int(WALL) + 12)}, 12),
        ({"Retry-After": email.utils.formatdate(WALL + 5, usegmt=True)}, 5),
        ({"Retry-After": "9999"}, 60),
        ({"Retry-After": "soon"}, 0.5),
        ({"X-Ratelimit-Reset": "later"}, 0.5),
        ({}, 0.5),
    ],
)
async def test_429_honours_the_reset_header_capped_else_backs_off(
    api: respx.MockRouter,
    client: httpx.AsyncClient,
    autojump_clock: trio.abc.Clock,
    headers: dict[str, str],
    waited: float,
) -> None:
    api.get("/v2/clock").mock(side_effect=[httpx.Response(429, headers=headers), OK])
    t0 = trio.current_time()
    await _http(client, []).get_json("/v2/clock", "GET /v2/clock")
    assert trio.current_time() - t0 == pytest.approx(waited)


async def test_5xx_backs_off_exponentially_up_to_the_cap(
    api: respx.MockRouter, client: httpx.AsyncClient, autojump_clock: trio.abc.Clock
) -> None:
    api.get("/v2/positions").mock(side_effect=[httpx.Response(503)] * 4 + [OK])
    calls: list[tuple[str, str, str]] = []
    t0 = trio.current_time()
    await _http(client, calls, base_s=1.0, max_s=3.0).get_json("/v2/positions", "GET /v2/positions")
    assert trio.current_time() - t0 == 1 + 2 + 3 + 3
    assert [c for c in calls if c[0] == "retry"] == [
        ("retry", "GET /v2/positions", "server_error")
    ] * 4


async def test_jitter_scales_the_back_off(
    api: respx.MockRouter, client: httpx.AsyncClient, autojump_clock: trio.abc.Clock
) -> None:
    api.get("/v2/positions").mock(side_effect=[httpx.Response(500), OK])
    t0 = trio.current_time()
    await _http(client, [], base_s=2.0, jitter=lambda: 0.25).get_json("/v2/positions", "p")
    assert trio.current_time() - t0 == 0.5


async def test_exhausted_retries_raise_the_last_transient_error(
    api: respx.MockRouter, client: httpx.AsyncClient, autojump_clock: trio.abc.Clock
) -> None:
    route = api.get("/v2/account").mock(return_value=httpx.Response(502))
    with pytest.raises(RetryableError, match="server_error 502"):
        await _http(client, [], attempts=3).get_json("/v2/account", "GET /v2/account")
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("error", "outcome"),
    [(httpx.ConnectError("refused"), "network_error"), (httpx.ReadTimeout("slow"), "timeout")],
)
async def test_network_errors_and_timeouts_are_retried(
    api: respx.MockRouter,
    client: httpx.AsyncClient,
    autojump_clock: trio.abc.Clock,
    error: Exception,
    outcome: str,
) -> None:
    api.get("/v2/account").mock(side_effect=[error, OK])
    calls: list[tuple[str, str, str]] = []
    await _http(client, calls).get_json("/v2/account", "GET /v2/account")
    assert ("retry", "GET /v2/account", outcome) in calls


@pytest.mark.parametrize(
    ("response", "message", "code"),
    [
        (httpx.Response(403, json={"code": 40310000, "message": "nope"}), "nope", 40310000),
        (httpx.Response(400, text="bad thing"), "bad thing", None),
        (httpx.Response(404, text=""), "Not Found", None),
        (httpx.Response(422, json=["odd"]), "['odd']", None),
        (httpx.Response(422, json={"code": "x"}), "Unprocessable Entity", None),
    ],
)
async def test_other_4xx_fail_at_once_with_the_message(
    api: respx.MockRouter,
    client: httpx.AsyncClient,
    response: httpx.Response,
    message: str,
    code: int | None,
) -> None:
    route = api.post("/v2/orders").mock(return_value=response)
    calls: list[tuple[str, str, str]] = []
    with pytest.raises(AlpacaApiError) as caught:
        await _http(client, calls).send("POST", "/v2/orders", "POST /v2/orders", json={})
    assert (caught.value.message, caught.value.code) == (message, code)
    assert route.call_count == 1
    assert calls == [("request", "POST /v2/orders", "client_error")]


async def test_keys_travel_as_headers(api: respx.MockRouter, client: httpx.AsyncClient) -> None:
    route = api.get("/v2/account").mock(return_value=OK)
    await _http(client, []).get_json("/v2/account", "GET /v2/account")
    sent = route.calls.last.request.headers
    assert (sent["APCA-API-KEY-ID"], sent["APCA-API-SECRET-KEY"]) == ("k", "s")


async def test_bucket_spaces_calls_after_the_burst(autojump_clock: trio.abc.Clock) -> None:
    bucket = TokenBucket(61, burst=1)  # refills one token per second
    t0 = trio.current_time()
    for _ in range(4):
        await bucket.acquire()
    assert trio.current_time() - t0 == pytest.approx(3)


async def test_bucket_never_exceeds_the_rate_in_any_minute(autojump_clock: trio.abc.Clock) -> None:
    bucket = TokenBucket(200)
    times: list[float] = []

    async def caller() -> None:
        for _ in range(100):
            await bucket.acquire()
            times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(caller)
    assert len(times) == 500
    assert max(sum(1 for t in times if s <= t < s + 60) for s in times) <= 200


def test_bucket_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        TokenBucket(0)

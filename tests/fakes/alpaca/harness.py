"""Adapters wired to a running fake Alpaca: one httpx client per test, tiny back-offs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from finagent.adapters.alpaca.broker import AlpacaBroker
from finagent.adapters.alpaca.http import AlpacaHttp, RetryPolicy, TokenBucket, alpaca_headers
from tests.fakes.alpaca.server import running_fake_alpaca
from tests.fakes.alpaca.state import FakeAlpacaState

FAST = RetryPolicy(attempts=4, base_s=0.001, max_s=0.01, max_wait_s=0.05)


@dataclass
class Counted:
    """Records every hook call: (port, endpoint, outcome)."""

    calls: list[tuple[str, str, str]]

    def __call__(self, port: str, endpoint: str, outcome: str) -> None:
        self.calls.append((port, endpoint, outcome))


@dataclass
class AlpacaRig:
    """A fake Alpaca, a client to it, a broker over it, and the hook recorders."""

    state: FakeAlpacaState
    url: str
    client: httpx.AsyncClient
    broker: AlpacaBroker
    requests: Counted
    retries: Counted


@asynccontextmanager
async def open_rig(
    state: FakeAlpacaState | None = None,
    *,
    policy: RetryPolicy = FAST,
    http_timeout: float = 5.0,
    secret_key: str | None = None,
) -> AsyncIterator[AlpacaRig]:
    """Serve a fake Alpaca and wire an AlpacaBroker to it."""
    state = state or FakeAlpacaState()
    requests, retries = Counted([]), Counted([])
    with running_fake_alpaca(state) as url:
        headers = alpaca_headers(state.key_id, secret_key or state.secret_key)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=http_timeout) as client:
            broker = AlpacaBroker(
                AlpacaHttp(client, port="trading", limiter=TokenBucket(100_000), policy=policy,
                           on_request=requests, on_retry=retries)
            )  # fmt: skip
            yield AlpacaRig(state, url, client, broker, requests, retries)

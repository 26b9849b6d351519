"""The contract fixture: one QueueHarness per backend. The suite never names a backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from finagent.domain.jobs import QueuePolicy
from tests.contract.backends import open_sqlite_harness
from tests.contract.redis_backend import open_redis_harness

POLICY = QueuePolicy(lease_s=30.0, max_attempts=3, retry_base_s=2.0, retry_max_s=10.0)


@pytest.fixture(params=["sqlite", "redis"])
async def queue_harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh, empty queue of each backend (Redis: a real redis-server on loopback)."""
    if request.param == "redis":
        async with open_redis_harness(POLICY) as harness:
            yield harness
        return
    async with open_sqlite_harness(tmp_path / "queue.db", POLICY) as harness:
        yield harness

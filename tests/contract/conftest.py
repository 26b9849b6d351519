"""The contract fixture: one QueueHarness per backend. The suite never names a backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from finagent.domain.jobs import QueuePolicy
from tests.contract.backends import QueueHarness, open_sqlite_harness

POLICY = QueuePolicy(lease_s=30.0, max_attempts=3, retry_base_s=2.0, retry_max_s=10.0)


@pytest.fixture(params=["sqlite"])
async def queue_harness(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[QueueHarness]:
    """A fresh, empty queue of each backend."""
    assert request.param == "sqlite"
    async with open_sqlite_harness(tmp_path / "queue.db", POLICY) as h:
        yield h

"""The Broker contract suite, run against AlpacaBroker talking HTTP to the fake Alpaca."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from finagent.domain.orders import BracketOrder
from tests.contract import test_broker_contract as contract
from tests.contract.test_broker_contract import START, BrokerHarness
from tests.fakes import FakeClock
from tests.fakes.alpaca.harness import open_rig

# Every contract test, collected here too; they ask for ``bh``, which this module provides.
globals().update({k: v for k, v in vars(contract).items() if k.startswith("test_")})


@pytest.fixture
async def bh() -> AsyncIterator[BrokerHarness]:
    """An AlpacaBroker over a fresh fake account with $100,000."""
    async with open_rig() as rig:

        async def fill(order: BracketOrder) -> None:
            rig.state.fill_entry(order.client_order_id)

        async def price(symbol: str, px: Decimal) -> None:
            rig.state.set_price(symbol, px)

        yield BrokerHarness(rig.broker, FakeClock(START), fill, price)

"""A fake Alpaca (Trading + Market Data APIs) served over real HTTP on 127.0.0.1 for tests."""

from tests.fakes.alpaca.server import running_fake_alpaca
from tests.fakes.alpaca.state import FakeAlpacaState, Fault

__all__ = ["FakeAlpacaState", "Fault", "running_fake_alpaca"]

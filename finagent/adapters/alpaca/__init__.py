"""Alpaca adapters: the HTTP client wrapper, the broker, market data and news, and the wire types.

docs/alpaca.md lists the wire types per endpoint.
"""

from finagent.adapters.alpaca.broker import AlpacaBroker
from finagent.adapters.alpaca.http import AlpacaHttp
from finagent.adapters.alpaca.market import AlpacaMarketData, AlpacaNews

__all__ = ["AlpacaBroker", "AlpacaHttp", "AlpacaMarketData", "AlpacaNews"]

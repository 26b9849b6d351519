"""The simulated market and the paper broker that fills against it."""

from finagent.adapters.sim.market import SimMarket
from finagent.adapters.sim.paper_broker import PaperBroker, open_paper_broker

__all__ = ["PaperBroker", "SimMarket", "open_paper_broker"]

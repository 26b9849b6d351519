"""One scan now on the configured feed (``finagent scan --once``), ranked as scoring ranks it."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from finagent import __version__
from finagent.app.exchange import exchange_calendar
from finagent.app.options import DaemonOptions
from finagent.app.rules import scan_rules
from finagent.app.wiring import open_feeds
from finagent.domain.scoring import ScoreWeights, rank
from finagent.observability import Metrics
from finagent.services.scanner import scan_at

if TYPE_CHECKING:
    from datetime import datetime

    from finagent.domain.scoring import ScoredCandidate
    from finagent.settings import Settings

__all__ = ["scan_once"]


async def scan_once(settings: Settings, at: datetime) -> list[ScoredCandidate]:
    """Every candidate as of ``at`` on the settings' feed (sim or Alpaca), best first.

    Raises:
        ConfigError: the feed's settings cannot work (e.g. Alpaca keys missing).
        MarketDataError: the feed could not answer.
    """
    metrics = Metrics(__version__, process_collectors=False)
    calendar = exchange_calendar(settings.exchange.calendar)
    async with AsyncExitStack() as stack:
        market, news, _ = await open_feeds(stack, settings, DaemonOptions(), metrics, calendar)
        found = await scan_at(market, news, scan_rules(settings), at)
    return rank(found, ScoreWeights(), len(found))

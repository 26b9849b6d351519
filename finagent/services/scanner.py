"""The scanner: the pre-market gap scan over the whole universe.

Owns nothing. Receives ``scan`` jobs (via its Stage). Emits one ``score:<date>`` job with every
candidate and its catalysts. Restart: permanent. Snapshots are taken at the job's scheduled
time, not at the moment it runs, so a retried scan finds the same candidates.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, final

from finagent.domain.gaps import GapCandidate, ScanRules, attach_catalysts, scan
from finagent.domain.job_types import ScanJob, ScoreJob, payload_as
from finagent.domain.pipeline import stage_key
from finagent.ports.market import Screener

if TYPE_CHECKING:
    from collections.abc import Sequence

    from finagent.domain.job_types import JobPayload
    from finagent.domain.jobs import Job, NewJob
    from finagent.observability import Metrics
    from finagent.ports.clock import Clock
    from finagent.ports.compute import Offload
    from finagent.ports.market import MarketData
    from finagent.ports.news import News

__all__ = ["OFFLOAD_OVER", "Scanner", "scan_at"]

log = logging.getLogger(__name__)

_NEWS_LOOKBACK = timedelta(hours=24)
#: ``gaps.scan`` over more snapshots than this goes to ``offload`` (a feed with no Screener
#: returns the whole universe: ~60 ms of CPU at 20,000); fewer are not worth a thread hop.
OFFLOAD_OVER = 1_000


async def scan_at(
    market: MarketData,
    news: News,
    rules: ScanRules,
    at: datetime,
    offload: Offload | None = None,
) -> list[GapCandidate]:
    """Every gap candidate of the universe as of ``at``, with its catalyst headlines.

    A feed that is also a ``Screener`` screens on its side (only the snapshots that pass the
    rules come back); ``gaps.scan`` applies the rules either way, so the result is the same.
    ``offload`` (None: on the loop) runs ``gaps.scan`` over more than ``OFFLOAD_OVER``.
    """
    symbols = await market.universe(at.date())
    if isinstance(market, Screener):
        snapshots = await market.screen(symbols, at, rules)
    else:
        snapshots = await market.snapshots(symbols, at)
    if offload is not None and len(snapshots) > OFFLOAD_OVER:
        found = await offload(partial(scan, snapshots, rules))
    else:
        found = scan(snapshots, rules)
    if not found:
        return []
    headlines = await news.headlines([c.symbol for c in found], at - _NEWS_LOOKBACK, at)
    return attach_catalysts(found, headlines)


@final
class Scanner:
    """JobHandler for ``scan``: snapshots → ``gaps.scan`` → catalysts → one score job."""

    def __init__(
        self,
        market: MarketData,
        news: News,
        rules: ScanRules,
        clock: Clock,
        metrics: Metrics | None = None,
        offload: Offload | None = None,
    ) -> None:
        self._market = market
        self._offload = offload
        self._news = news
        self._rules = rules
        self._clock = clock
        self._metrics = metrics

    async def start(self) -> None:
        """Nothing to recover."""

    async def handle(self, job: Job, payload: JobPayload) -> Sequence[NewJob]:
        """Scan as of the scheduled time (or now) and hand every candidate to scoring."""
        scan_job = payload_as(payload, ScanJob)
        session = scan_job.session
        at = scan_job.scheduled_for if scan_job.scheduled_for is not None else self._clock.now()
        started = time.perf_counter()
        found = await scan_at(self._market, self._news, self._rules, at, self._offload)
        if self._metrics is not None:
            self._metrics.scan_duration.observe(time.perf_counter() - started)
            self._metrics.scan_candidates.set(len(found))
        symbols = [c.symbol for c in found]
        top = ",".join(symbols[:3]) or "-"
        log.info(
            "scan %s: %d candidate(s) as of %s (top %s)",
            session.date,
            len(found),
            at.isoformat(),
            top,
        )
        log.debug("scan %s candidates: %s", session.date, " ".join(symbols))
        return [ScoreJob(session, tuple(found)).job(stage_key("score", session))]

"""``finagent data download``: fill the replay store from Alpaca's historical APIs.

1. Daily bars (``1Day``, raw) of the symbols for every session from ``--from`` to ``--to``,
   plus enough sessions before (21) for the previous close, ATR and average volume.
2. For each session, the symbols whose daily open gapped at least half the scan threshold from
   the previous close (:func:`finagent.app.data.gapped`): their 1-minute bars from 04:00 ET to
   the close (pre-market included) and their headlines of the 24 hours before the scan.

Resumable: every piece (session, symbol, kind) is written to the store together with its
``coverage`` row in one transaction, and a piece already in ``coverage`` is never fetched
again, so a re-run after an interruption fetches only what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import httpx
import trio

from finagent.adapters.alpaca.history import AlpacaHistory
from finagent.adapters.alpaca.http import (
    DEFAULT_TIMEOUT,
    AlpacaHttp,
    RetryPolicy,
    TokenBucket,
    alpaca_headers,
)
from finagent.adapters.alpaca.market import AlpacaMarketData
from finagent.adapters.replay.store import DailyRow, ReplayStore, open_store
from finagent.app.alpaca import BrokerSetupError
from finagent.app.data import NEW_YORK, VOLUME_DAYS, DataError, derive_daily, gapped, scan_instant
from finagent.app.exchange import exchange_calendar
from finagent.domain.market import Session
from finagent.observability import register_secret

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from finagent.settings import Settings

__all__ = ["RETRY", "DownloadResult", "download"]

#: How failed requests are retried (the Alpaca default: 5 attempts, 0.5 s doubling, jitter).
RETRY = RetryPolicy()
DAILY_CHUNK = 100  # symbols per daily-bars request (~27k bars a year: 3 pages of 10 000)
MINUTE_CHUNK = 50  # symbols per minute-bars request (<= 720 bars each: <= 4 pages)
NEWS_CHUNK = 50
_PREMARKET = time(4, 0)
_NEWS_HOURS = timedelta(hours=24)  # the scanner's news lookback

Progress = Callable[[int, int, str], None]
"""``progress(done, total, label)``: called before each piece of work and once at the end."""


@dataclass
class DownloadResult:
    """What one run fetched (pieces already in the store are counted as ``skipped``)."""

    sessions: int = 0
    symbols: int = 0
    daily_bars: int = 0
    gapped: int = 0
    minute_bars: int = 0
    headlines: int = 0
    skipped: int = 0


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def download(
    settings: Settings,
    start: date,
    end: date,
    path: Path,
    *,
    symbols: Sequence[str] | None = None,
    progress: Progress | None = None,
    policy: RetryPolicy | None = None,
) -> DownloadResult:
    """Download ``start``..``end`` into the store at ``path`` (``symbols``: else the universe).

    Raises:
        BrokerSetupError: the keys are not set.
        DataError: no trading session in the range.
        MarketDataError: Alpaca refused a request, or sent a body that cannot be read.
        MarketDataUnavailable: no answer after the retries; a re-run resumes.
    """
    a = settings.alpaca
    if a.key_id is None or a.secret_key is None:
        raise BrokerSetupError(
            "data download needs FINAGENT_ALPACA__KEY_ID and FINAGENT_ALPACA__SECRET_KEY"
        )
    calendar = exchange_calendar(settings.exchange.calendar)
    sessions = [Session(s.date, s.open, s.close) for s in calendar.sessions(start, end)]
    if not sessions:
        raise DataError(f"no trading session from {start} to {end} on {settings.exchange.calendar}")
    before = calendar.sessions(sessions[0].date - timedelta(days=45), sessions[0].date)
    lookback = [s.date for s in before if s.date < sessions[0].date][-(VOLUME_DAYS + 1) :]
    key_id, secret = a.key_id.get_secret_value(), a.secret_key.get_secret_value()
    register_secret(key_id)
    register_secret(secret)
    headers = alpaca_headers(key_id, secret)
    run = _Run(settings, sessions, lookback, policy or RETRY, progress)

    async def main() -> DownloadResult:
        async with (
            httpx.AsyncClient(base_url=a.data_url, headers=headers, timeout=DEFAULT_TIMEOUT) as d,
            httpx.AsyncClient(
                base_url=a.trading_url, headers=headers, timeout=DEFAULT_TIMEOUT
            ) as t,
        ):
            return await run.all(d, t, symbols, path)

    return trio.run(main)


class _Run:
    """One download: the sessions, the retry policy, the progress callback."""

    def __init__(
        self,
        settings: Settings,
        sessions: list[Session],
        lookback: list[date],
        policy: RetryPolicy,
        progress: Progress | None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.days = [*lookback, *(s.date for s in sessions)]
        self.policy = policy
        self.progress = progress or (lambda done, total, label: None)
        self.result = DownloadResult(sessions=len(sessions))

    def _api(self, client: httpx.AsyncClient, port: str) -> AlpacaHttp:
        limiter = TokenBucket(self.settings.alpaca.rate_per_min)
        return AlpacaHttp(client, port=port, limiter=limiter, policy=self.policy)

    async def all(
        self,
        data: httpx.AsyncClient,
        trading: httpx.AsyncClient,
        symbols: Sequence[str] | None,
        path: Path,
    ) -> DownloadResult:
        data_api = self._api(data, "data")
        history = AlpacaHistory(data_api, feed=self.settings.alpaca.data_feed)
        if symbols is None:
            market = AlpacaMarketData(data_api, self._api(trading, "trading"))
            symbols = await market.universe(self.sessions[-1].date)
        wanted = sorted(set(symbols))
        self.result.symbols = len(wanted)
        store = open_store(path, create=True)
        try:
            daily = _chunks(wanted, DAILY_CHUNK)
            total = len(daily) + len(self.sessions)
            for i, chunk in enumerate(daily):
                self.progress(i, total, f"daily bars {i + 1}/{len(daily)}")
                await self._daily(store, history, chunk)
            for i, session in enumerate(self.sessions):
                self.progress(len(daily) + i, total, session.date.isoformat())
                await self._session(store, history, session, wanted)
            self.progress(total, total, "")
        finally:
            store.close()
        return self.result

    async def _daily(
        self, store: ReplayStore, history: AlpacaHistory, chunk: Sequence[str]
    ) -> None:
        """Daily bars of ``chunk`` for the sessions not yet covered, with their history."""
        covered = store.covered_days("daily", chunk)
        todo = [
            (s.date, sym) for s in self.sessions for sym in chunk if (s.date, sym) not in covered
        ]
        self.result.skipped += len(self.sessions) * len(chunk) - len(todo)
        if not todo:
            return
        missing = sorted({sym for _, sym in todo})
        days = sorted({d for d, _ in todo})
        at = self.days.index(days[0])
        start = self.days[max(0, at - VOLUME_DAYS - 1)]
        fetched = await history.bars(
            missing,
            "1Day",
            datetime.combine(start, time(0), NEW_YORK),
            datetime.combine(days[-1], time(20, 0), NEW_YORK),
        )
        self.result.daily_bars += sum(len(b) for b in fetched.values())
        done = covered | set(todo)
        by_symbol: dict[str, dict[date, DailyRow]] = {s: {} for s in missing}
        for row in store.history(missing):
            by_symbol[row.symbol][row.day] = row
        for symbol, bars in fetched.items():
            for b in bars:
                day = b.start.astimezone(NEW_YORK).date()
                by_symbol.setdefault(symbol, {})[day] = DailyRow(
                    day, symbol, b.open, b.high, b.low, b.close, b.volume
                )
        rows: list[DailyRow] = []
        for symbol, found in by_symbol.items():
            for row in derive_daily([found[d] for d in sorted(found)]):
                # Only a covered session is scan-ready; the days before it are its history.
                rows.append(row if (row.day, symbol) in done else _bare(row))
        store.write(daily=rows, coverage=[(d, s, "daily") for d, s in todo])

    async def _session(
        self, store: ReplayStore, history: AlpacaHistory, session: Session, wanted: list[str]
    ) -> None:
        """Minute bars and news of the symbols that gapped on ``session``."""
        day = session.date
        rows = store.daily(day)
        pct = self.settings.scan.min_gap_pct
        moved = [
            s
            for s in wanted
            if s in rows and gapped(rows[s].open, rows[s].prev_close or Decimal(0), pct)
        ]
        self.result.gapped += len(moved)
        have_minute, have_news = store.covered(day, "minute"), store.covered(day, "news")
        self.result.skipped += sum(s in have_minute for s in moved) + sum(
            s in have_news for s in moved
        )
        premarket = datetime.combine(day, _PREMARKET, NEW_YORK)
        last_minute = session.close - timedelta(minutes=1)
        for chunk in _chunks([s for s in moved if s not in have_minute], MINUTE_CHUNK):
            fetched = await history.bars(chunk, "1Min", premarket, last_minute)
            bars = [
                b for bs in fetched.values() for b in bs if premarket <= b.start < session.close
            ]
            store.write(bars=bars, coverage=[(day, s, "minute") for s in chunk])
            self.result.minute_bars += len(bars)
        scan = scan_instant(self.settings, session)
        for chunk in _chunks([s for s in moved if s not in have_news], NEWS_CHUNK):
            found = await history.news(chunk, scan - _NEWS_HOURS, session.open)
            store.write(news=found, coverage=[(day, s, "news") for s in chunk])
            self.result.headlines += len(found)


def _bare(row: DailyRow) -> DailyRow:
    """The bar without the derived fields: history, not a scan-ready session."""
    return DailyRow(row.day, row.symbol, row.open, row.high, row.low, row.close, row.volume)

"""ReplayMarket: MarketData, Screener and News over a recorded store (``feed: replay``).

A snapshot as of ``at`` on session day D is built like a live feed's: the previous close and
ATR from D's daily row; last, high, low and volume from D's pre-market minute bars complete by
``at`` (04:00 ET to the open); the typical pre-market volume to that time of day is 3 % of the
average daily volume, scaled by the share of the pre-market elapsed (the approximation is in
``docs/backtest.md``). A symbol with no pre-market bar has not traded: last = previous close.

Asking for minute bars of a (symbol, session) that was never recorded raises
:class:`ReplayDataGap` naming the symbol, the day and the minutes; a recorded symbol's missing
minute is a minute without trades, as on the live feed.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, final
from zoneinfo import ZoneInfo

from finagent.adapters.replay.store import DailyRow, ReplayDataGap, ReplayStore, epoch
from finagent.domain.gaps import ScanRules, passing
from finagent.domain.market import Bar, Headline, Session, Snapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from decimal import Decimal

__all__ = ["PREMARKET_SHARE", "ReplayMarket"]

NEW_YORK = ZoneInfo("America/New_York")
PREMARKET_SHARE = 0.03  # typical pre-market volume, as a share of average daily volume
_PREMARKET = time(4, 0)
_AFTER_HOURS_END = time(20, 0)


@final
class ReplayMarket:
    """The recorded days of a store as a feed; see the module docstring."""

    def __init__(self, store: ReplayStore, session_for: Callable[[date], Session | None]) -> None:
        self._store = store
        self._session_for = session_for
        self._daily: dict[date, dict[str, DailyRow]] = {}
        self._covered: dict[date, frozenset[str]] = {}
        self._bars: dict[tuple[str, date], tuple[list[int], list[Bar]]] = {}
        self.gaps: list[str] = []  # every gap met, for the backtest's report

    # ---- MarketData -------------------------------------------------------------------------
    async def universe(self, session_date: date) -> Sequence[str]:
        """The symbols with a scan-ready daily row on that session, sorted."""
        return tuple(self._day(session_date))

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> Sequence[Snapshot]:
        """Snapshots as of ``at`` for the symbols with a daily row that day."""
        day = at.astimezone(NEW_YORK).date()
        rows, frac = self._day(day), self._frac(day, at)
        return [self._snapshot(rows[s], at, frac) for s in symbols if s in rows]

    async def screen(
        self, symbols: Sequence[str], at: datetime, rules: ScanRules
    ) -> Sequence[Snapshot]:
        """Only symbols with recorded pre-market bars can pass a gap or volume rule."""
        if rules.min_gap_pct <= 0 and rules.min_premarket_volume <= 0:
            return passing(await self.snapshots(symbols, at), rules)
        covered = self._coverage(at.astimezone(NEW_YORK).date())
        return passing(await self.snapshots([s for s in symbols if s in covered], at), rules)

    async def minute_bars(self, symbol: str, start: datetime, end: datetime) -> Sequence[Bar]:
        """Recorded bars in ``[start, end]``; a never-recorded (symbol, session) is a gap."""
        found: list[Bar] = []
        day = start.astimezone(NEW_YORK).date()
        while day <= end.astimezone(NEW_YORK).date():
            if self._session(day) is not None:
                starts, bars = self._day_bars(symbol, day, start, end)
                lo = bisect_right(starts, epoch(start) - 1)
                hi = bisect_right(starts, epoch(end) - 60)
                found.extend(bars[lo:hi])
            day += timedelta(days=1)
        return found

    async def last_prices(self, symbols: Sequence[str], at: datetime) -> Mapping[str, Decimal]:
        """The last recorded close by ``at`` that day, else the previous close."""
        day = at.astimezone(NEW_YORK).date()
        rows, prices = self._day(day), {}
        for symbol in symbols:
            row = rows.get(symbol)
            if row is None:
                continue
            bars: Sequence[Bar] = []
            if symbol in self._coverage(day):
                bars = await self.minute_bars(symbol, self._premarket(day), at)
            prices[symbol] = bars[-1].close if bars else row.prev_close
        return {s: p for s, p in prices.items() if p is not None}

    # ---- News -------------------------------------------------------------------------------
    async def headlines(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Sequence[Headline]:
        """Recorded headlines naming any of ``symbols`` in ``[start, end)``, oldest first."""
        wanted = set(symbols)
        return [h for h in self._store.news(start, end) if wanted.intersection(h.symbols)]

    # ---- internals --------------------------------------------------------------------------
    def _session(self, day: date) -> Session | None:
        return self._session_for(day)

    def _premarket(self, day: date) -> datetime:
        return datetime.combine(day, _PREMARKET, NEW_YORK)

    def _frac(self, day: date, at: datetime) -> float:
        """How far ``at`` is from 04:00 to the open, in [0, 1] (as the simulator measures it)."""
        session = self._session(day)
        start = self._premarket(day)
        opens = session.open if session else datetime.combine(day, time(9, 30), NEW_YORK)
        return min(max((at - start) / (opens - start), 0.0), 1.0)

    def _day(self, day: date) -> dict[str, DailyRow]:
        rows = self._daily.get(day)
        if rows is None:
            if len(self._daily) > 4:
                self._daily.clear()
            rows = self._daily[day] = self._store.daily(day)
        return rows

    def _coverage(self, day: date) -> frozenset[str]:
        found = self._covered.get(day)
        if found is None:
            found = self._covered[day] = frozenset(self._store.covered(day, "minute"))
        return found

    def _day_bars(
        self, symbol: str, day: date, start: datetime, end: datetime
    ) -> tuple[list[int], list[Bar]]:
        key = (symbol, day)
        found = self._bars.get(key)
        if found is None:
            if symbol not in self._coverage(day):
                message = (
                    f"replay data gap: {symbol} on {day.isoformat()}: no minute bars recorded"
                    f" for {start.astimezone(NEW_YORK):%H:%M}-{end.astimezone(NEW_YORK):%H:%M}"
                    f" ET in {self._store.path}"
                )
                self.gaps.append(message)
                raise ReplayDataGap(message)
            if len(self._bars) > 256:
                self._bars.clear()
            bars = self._store.bars(
                symbol, self._premarket(day), datetime.combine(day, _AFTER_HOURS_END, NEW_YORK)
            )
            found = self._bars[key] = ([epoch(b.start) for b in bars], bars)
        return found

    def _snapshot(self, row: DailyRow, at: datetime, frac: float) -> Snapshot:
        prev = row.prev_close
        assert prev is not None  # daily() returns scan-ready rows only
        last = high = low = prev
        volume = 0
        day = row.day
        if frac > 0 and row.symbol in self._coverage(day):
            session = self._session(day)
            until = min(at, session.open) if session else at
            found = self._store.summary(row.symbol, self._premarket(day), until)
            if found is not None:
                last, high, low, volume = found
        typical = int(row.avg_volume * PREMARKET_SHARE * frac) if row.avg_volume else 0
        atr = row.atr if row.atr is not None else prev * 0
        return Snapshot(row.symbol, at, last, prev, high, low, volume, typical, atr)

"""A simulated US equity market and news feed, deterministic from (seed, date).

Every per-symbol number is drawn from a BLAKE2b digest of ``"{seed}:{date}:{symbol}"``
(stable across processes, unlike ``hash()``), so a snapshot costs one small hash, and any
subset of symbols can be asked for in any order with the same answer. The model:

- Prices: lognormal around a per-symbol level (median ~$25); daily volatility 1-15 %.
- Overnight gaps: a normal mixture (most symbols ~0.5 sigma, ~5 % of them "movers" with
  sigma 9 %), so a few % of the universe gaps more than 4 %.
- Pre-market (04:00 to the open): the gap builds up over the morning; volume accrues linearly
  at ``3 % of average daily volume x relative volume``; relative volume grows with the gap.
- Headlines: ~85 % of gaps over 4 % carry a catalyst headline (earnings, guidance, FDA,
  merger, offering, contract, up/downgrade), published between the prior 16:00 and 08:30.
- Minute bars: GBM with jumps from the open, a U-shaped volatility and volume curve, and a
  drift that either continues the gap or fades it (50/50), mostly in the first hour. Bars are
  drawn lazily per (symbol, session), in order and only up to the end asked for, and cached
  (least recently used first out; a new session drops the older sessions' streams, which are
  drawn again, identically, if asked for).
  Snapshots as of one instant are cached too (the last four instants); the universe is built
  once a process per (seed, size).
- Screen (the ``Screener`` port): the scan's rules applied on the feed's side, like a movers
  endpoint. A vectorised float pass over every symbol's digest (``sim_model.may_pass``) drops
  the ~99 % that cannot pass, so only the candidates become Decimal snapshots; the answer is
  exactly the full snapshots filtered by the rules (cached per instant and rules).

The model itself (draws, snapshots, bars, the float pass) lives in ``sim_model``.

Nothing here reads the clock: snapshots are "at" a time and bars end at ``end``. Sessions come
from ``session_for`` (the caller's calendar, with early closes); the default is 09:30-16:00
America/New_York on weekdays, holidays not excluded.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import TYPE_CHECKING, final
from zoneinfo import ZoneInfo

from finagent.adapters.offload import InlineOffload
from finagent.adapters.sim.model import (
    BarStream,
    Day,
    Profile,
    build_universe,
    columns,
    draw_day,
    may_pass,
    snapshot,
    universe_columns,
)
from finagent.domain.gaps import ScanRules, passing
from finagent.domain.market import Headline, Session, Snapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from decimal import Decimal

    from finagent.adapters.sim.model import Columns
    from finagent.domain.market import Bar
    from finagent.ports.compute import Offload

__all__ = ["SimMarket", "regular_session"]

NEW_YORK = ZoneInfo("America/New_York")
_PREMARKET_START = time(4, 0)
_NEWS_END = time(8, 30)  # a day's headlines: from 16:00 the day before, < 990 min on the wall
_UP_NEWS = (
    "{s} beats quarterly earnings estimates and lifts revenue outlook",
    "{s} raises full-year guidance after strong demand",
    "{s} wins FDA approval for lead candidate",
    "{s} agrees to merger at a premium to last close",
    "{s} lands multi-year government contract",
    "Analyst upgrade: {s} raised to buy",
)
_DOWN_NEWS = (
    "{s} misses earnings estimates as margins shrink",
    "{s} cuts full-year guidance",
    "FDA declines to approve {s} application",
    "{s} prices public offering of common stock",
    "{s} merger talks collapse",
    "Analyst downgrade: {s} cut to sell",
)
_NOISE_NEWS = "{s} to present at investor conference"


def regular_session(day: date) -> Session | None:
    """09:30-16:00 New York on weekdays (no holiday calendar): the default for the sim."""
    if day.weekday() >= 5:
        return None
    return Session(
        day,
        datetime.combine(day, time(9, 30), NEW_YORK),
        datetime.combine(day, time(16, 0), NEW_YORK),
    )


@final
class SimMarket:
    """MarketData and News over a simulated universe; see the module docstring for the model."""

    def __init__(
        self,
        *,
        symbols: int = 5000,
        seed: int = 42,
        session_for: Callable[[date], Session | None] = regular_session,
        bar_cache: int = 512,
        offload: Offload | None = None,
        offload_over: int = 5_000,
    ) -> None:
        self._n = symbols
        self._offload: Offload = offload if offload is not None else InlineOffload()
        # A pass over 5,000 symbols takes ~3 ms: on the loop it stalls nothing that matters
        # and costs no thread hop; over more it goes to ``offload`` (~30 ms at 20,000).
        self._offload_over = offload_over
        self._seed = seed
        self._session_for = session_for
        self._bar_cache = bar_cache
        self._names: tuple[str, ...] | None = None
        self._known: frozenset[str] = frozenset()
        self._profiles: dict[str, Profile] = {}
        self._days: dict[date, dict[str, Day]] = {}
        self._bars: OrderedDict[tuple[str, date], BarStream] = OrderedDict()
        self._bars_day = date.min  # the newest session a stream was drawn for
        self._sessions: dict[date, Session | None] = {}
        self._snaps: dict[tuple[datetime, object], dict[str, Snapshot]] = {}
        self._screens: dict[tuple[object, ...], tuple[Snapshot, ...]] = {}

    # ---- MarketData ---------------------------------------------------------------------
    async def universe(self, session_date: date) -> Sequence[str]:
        """The same ``symbols`` tickers every day, sorted."""
        return await self._ready()

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> Sequence[Snapshot]:
        """Pre-market snapshots as of ``at`` (after the open: the pre-market as it ended)."""
        await self._ready()
        day, frac = self._instant(at)
        key = (at, at.tzinfo)  # snapshots as of one instant never change: keep the last few
        done = self._snaps.get(key)
        if done is None:
            if len(self._snaps) >= 4:
                self._snaps.pop(next(iter(self._snaps)))
            done = self._snaps[key] = {}
        known, profiles = self._known, self._profiles
        days, prefix = self._day_cache(day), f"{self._seed}:{day.isoformat()}:"
        found: list[Snapshot] = []
        for s in symbols:
            snap = done.get(s)
            if snap is None:
                if s not in known:
                    continue
                d = days.get(s)
                if d is None:
                    d = days[s] = draw_day(s, profiles[s], prefix)
                snap = done[s] = snapshot(s, d, at, frac)
            found.append(snap)
        return found

    async def screen(
        self, symbols: Sequence[str], at: datetime, rules: ScanRules
    ) -> Sequence[Snapshot]:
        """Snapshots as of ``at`` that pass ``rules``: a server-side screen, like a movers feed.

        The same snapshots as ``snapshots`` (cached per instant alike), but only the few
        hundred that may pass are built (see ``sim_model.may_pass``).
        """
        names = await self._ready()
        wanted = tuple(symbols)
        key = (at, at.tzinfo, rules, wanted)
        found = self._screens.get(key)
        if found is None:
            day, frac = self._instant(at)
            if frac > 0:
                # The pass over every symbol is the scan's heavy CPU: off the loop (offload).
                whole = wanted == names
                work = partial(_prescreen, self._seed, self._n, whole, wanted, self._profiles,
                               f"{self._seed}:{day.isoformat()}:", frac, rules)  # fmt: skip
                big = len(wanted) > self._offload_over
                maybe: Sequence[str] = await self._offload(work) if big else work()
            else:
                maybe = wanted  # before 04:00 nothing has moved: no cheap pass to make
            found = tuple(passing(await self.snapshots(maybe, at), rules))
            if len(self._screens) >= 4:
                self._screens.pop(next(iter(self._screens)))
            self._screens[key] = found
        return found

    async def minute_bars(self, symbol: str, start: datetime, end: datetime) -> Sequence[Bar]:
        """Complete bars in ``[start, end]`` of every session the window touches."""
        await self._ready()
        if symbol not in self._known or end <= start:
            return []
        found: list[Bar] = []
        day = start.astimezone(NEW_YORK).date()
        while day <= end.astimezone(NEW_YORK).date():
            session = self._session(day)
            if session is not None:
                bars = self._stream(symbol, day, session).upto(end)
                found.extend(b for b in bars if start <= b.start)
            day += timedelta(days=1)
        return found

    async def last_prices(self, symbols: Sequence[str], at: datetime) -> Mapping[str, Decimal]:
        """The last complete bar's close, or the pre-market last before the first bar."""
        prices: dict[str, Decimal] = {}
        day = at.astimezone(NEW_YORK).date()
        session = self._session(day)
        for symbol in symbols:
            bars = await self.minute_bars(symbol, session.open, at) if session else []
            if bars:
                prices[symbol] = bars[-1].close
            else:
                snaps = await self.snapshots([symbol], at)
                if snaps:
                    prices[symbol] = snaps[0].last
        return prices

    # ---- News ---------------------------------------------------------------------------
    async def headlines(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Sequence[Headline]:
        """Catalyst headlines for session dates whose news window overlaps ``[start, end)``."""
        await self._ready()
        found: list[Headline] = []
        day = start.astimezone(NEW_YORK).date()
        while day <= end.astimezone(NEW_YORK).date() + timedelta(days=1):
            since = datetime.combine(day - timedelta(days=1), time(16, 0), NEW_YORK)
            until = datetime.combine(day, _NEWS_END, NEW_YORK)  # a day's news: [since, until)
            if since < end and until > start and self._session(day) is not None:
                for symbol in symbols:
                    item = self._headline(symbol, day) if symbol in self._known else None
                    if item is not None and start <= item.at < end:
                        found.append(item)
            day += timedelta(days=1)
        found.sort(key=lambda h: (h.at, h.id))
        return found

    # ---- model --------------------------------------------------------------------------
    async def _ready(self) -> tuple[str, ...]:
        """The universe, built on first use (off the loop: ~0.3 s at 20,000 symbols)."""
        if self._names is None:
            names, profiles, known = await self._offload(partial(_build, self._seed, self._n))
            if self._names is None:  # another task may have built it meanwhile: same values
                self._names, self._profiles, self._known = names, profiles, known
        return self._names

    def _session(self, day: date) -> Session | None:
        if day not in self._sessions:
            if len(self._sessions) > 64:
                self._sessions.clear()
            self._sessions[day] = self._session_for(day)
        return self._sessions[day]

    def _instant(self, at: datetime) -> tuple[date, float]:
        """The New York date of ``at`` and how far it is from 04:00 to the open, in [0, 1]."""
        day = at.astimezone(NEW_YORK).date()
        session = self._session(day)
        start = datetime.combine(day, _PREMARKET_START, NEW_YORK)
        opens = session.open if session else datetime.combine(day, time(9, 30), NEW_YORK)
        return day, min(max((at - start) / (opens - start), 0.0), 1.0)

    def _day_cache(self, day: date) -> dict[str, Day]:
        cache = self._days.get(day)
        if cache is None:
            if len(self._days) > 8:
                self._days.pop(next(iter(self._days)))
            cache = self._days[day] = {}
        return cache

    def _day(self, symbol: str, day: date) -> Day:
        cache = self._day_cache(day)
        found = cache.get(symbol)
        if found is None:
            prefix = f"{self._seed}:{day.isoformat()}:"
            found = cache[symbol] = draw_day(symbol, self._profiles[symbol], prefix)
        return found

    def _headline(self, symbol: str, day: date) -> Headline | None:
        d = self._day(symbol, day)
        big = abs(d.gap) >= 0.04
        if d.catalyst >= (0.85 if big else 0.03):
            return None
        templates = (_UP_NEWS if d.gap > 0 else _DOWN_NEWS) if big else (_NOISE_NEWS,)
        index = min(int(d.pick * len(templates)), len(templates) - 1)
        since = datetime.combine(day - timedelta(days=1), time(16, 0), NEW_YORK)
        at = since + timedelta(minutes=int((d.pick * len(templates) % 1.0) * 990))
        text = templates[index].format(s=symbol)
        return Headline(f"sim-{day:%Y%m%d}-{symbol}", at, (symbol,), text)

    def _stream(self, symbol: str, day: date, session: Session) -> BarStream:
        key = (symbol, day)
        found = self._bars.get(key)
        if found is not None:
            self._bars.move_to_end(key)
            return found
        if day > self._bars_day:
            # A new session: the older sessions' streams are done with. Without this a daemon
            # kept every traded symbol's drawn bars (~0.3 MB a session) until the LRU's cap.
            self._bars_day = day
            for old in [k for k in self._bars if k[1] < day]:
                del self._bars[old]
        d, prof = self._day(symbol, day), self._profiles[symbol]
        found = self._bars[key] = BarStream(symbol, session, d, prof, self._seed)
        if len(self._bars) > self._bar_cache:
            self._bars.popitem(last=False)
        return found


def _build(seed: int, n: int) -> tuple[tuple[str, ...], dict[str, Profile], frozenset[str]]:
    names, profiles = build_universe(seed, n)
    return names, profiles, frozenset(names)


def _prescreen(
    seed: int,
    n: int,
    whole: bool,
    wanted: tuple[str, ...],
    profiles: Mapping[str, Profile],
    prefix: str,
    frac: float,
    rules: ScanRules,
) -> list[str]:
    """The symbols that may pass: pure, so it may run on a worker thread."""
    cols: Columns = universe_columns(seed, n) if whole else columns(wanted, profiles)
    return may_pass(cols, prefix, frac, rules)

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
  drawn lazily per (symbol, session), in order and only up to the end asked for, and cached.
  Snapshots as of one instant are cached too (the last four instants); the universe is built
  once a process per (seed, size).

Nothing here reads the clock: snapshots are "at" a time and bars end at ``end``. Sessions come
from ``session_for`` (the caller's calendar, with early closes); the default is 09:30-16:00
America/New_York on weekdays, holidays not excluded.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from collections import OrderedDict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple, final
from zoneinfo import ZoneInfo

from finagent.domain.market import BAR, Bar, Headline, Session, Snapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["SimMarket", "regular_session"]

NEW_YORK = ZoneInfo("America/New_York")
_PREMARKET_START = time(4, 0)
_WORDS = struct.Struct("<8I")
_INV_U32 = 1.0 / 2**32
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


def _dec(value: float) -> Decimal:
    return Decimal(f"{value:.2f}") if value >= 1 else Decimal(f"{value:.4f}")


@lru_cache(maxsize=8)
def _weights(n: int) -> tuple[tuple[float, ...], float]:
    """The U-shaped intraday volume weights of an ``n``-bar session and their sum."""
    weights = tuple(1 + 4 * math.exp(-t / 15) + 2 * math.exp(-(n - t) / 20) for t in range(n))
    return weights, sum(weights)


@lru_cache(maxsize=4)
def _build_universe(seed: int, n: int) -> tuple[tuple[str, ...], dict[str, _Profile]]:
    """The sorted names and profiles of a universe (day-independent: built once a process)."""
    # One sequential stream: symbol k's name and profile depend only on the seed and
    # the k-1 symbols before it, so the first 5,000 of 10,000 are the same 5,000.
    rng = random.Random(f"{seed}:universe")
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    profiles: dict[str, _Profile] = {}
    while len(profiles) < n:
        length = rng.choices((1, 2, 3, 4, 5), weights=(1, 8, 40, 45, 6))[0]
        name = "".join(rng.choice(letters) for _ in range(length))
        level = min(max(25.0 * math.exp(1.1 * rng.gauss(0, 1)), 0.5), 900.0)
        adv = min(max(800_000.0 * math.exp(1.4 * rng.gauss(0, 1)), 20_000.0), 2e8)
        vol = 0.025 * (25.0 / level) ** 0.25 * math.exp(0.3 * rng.gauss(0, 1))
        profiles.setdefault(name, _Profile(level, adv, min(max(vol, 0.008), 0.15)))
    return tuple(sorted(profiles)), profiles


class _Profile(NamedTuple):
    """What does not change from day to day for a symbol."""

    level: float
    adv: float
    vol: float


class _Day(NamedTuple):
    """One symbol's draws for one session date (a NamedTuple: built 10,000 times a scan)."""

    prev_close: float
    gap: float
    rvol: float
    range_pct: float
    up_share: float
    catalyst: float
    pick: float
    cont: bool
    prev_close_d: Decimal
    atr_d: Decimal
    typical_pm: float
    open_px: float


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
    ) -> None:
        self._n = symbols
        self._seed = seed
        self._session_for = session_for
        self._bar_cache = bar_cache
        self._names: tuple[str, ...] | None = None
        self._known: frozenset[str] = frozenset()
        self._profiles: dict[str, _Profile] = {}
        self._days: dict[date, dict[str, _Day]] = {}
        self._bars: OrderedDict[tuple[str, date], _BarStream] = OrderedDict()
        self._sessions: dict[date, Session | None] = {}
        self._snaps: dict[tuple[datetime, object], dict[str, Snapshot]] = {}

    # ---- MarketData ---------------------------------------------------------------------
    async def universe(self, session_date: date) -> Sequence[str]:
        """The same ``symbols`` tickers every day, sorted."""
        return self._universe()

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> Sequence[Snapshot]:
        """Pre-market snapshots as of ``at`` (after the open: the pre-market as it ended)."""
        self._universe()
        day = at.astimezone(NEW_YORK).date()
        session = self._session(day)
        start = datetime.combine(day, _PREMARKET_START, NEW_YORK)
        opens = session.open if session else datetime.combine(day, time(9, 30), NEW_YORK)
        frac = min(max((at - start) / (opens - start), 0.0), 1.0)
        key = (at, at.tzinfo)  # snapshots as of one instant never change: keep the last few
        done = self._snaps.get(key)
        if done is None:
            if len(self._snaps) >= 4:
                self._snaps.pop(next(iter(self._snaps)))
            done = self._snaps[key] = {}
        known, build, draw = self._known, self._snapshot, self._draw_day
        days, prefix = self._day_cache(day), f"{self._seed}:{day.isoformat()}:"
        found: list[Snapshot] = []
        for s in symbols:
            snap = done.get(s)
            if snap is None:
                if s not in known:
                    continue
                d = days.get(s)
                if d is None:
                    d = days[s] = draw(s, prefix)
                snap = done[s] = build(s, d, at, frac)
            found.append(snap)
        return found

    async def minute_bars(self, symbol: str, start: datetime, end: datetime) -> Sequence[Bar]:
        """Complete bars in ``[start, end]`` of every session the window touches."""
        self._universe()
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
        self._universe()
        found: list[Headline] = []
        day = start.astimezone(NEW_YORK).date()
        while day <= end.astimezone(NEW_YORK).date() + timedelta(days=1):
            if self._session(day) is not None:
                for symbol in symbols:
                    item = self._headline(symbol, day) if symbol in self._known else None
                    if item is not None and start <= item.at < end:
                        found.append(item)
            day += timedelta(days=1)
        found.sort(key=lambda h: (h.at, h.id))
        return found

    # ---- model --------------------------------------------------------------------------
    def _universe(self) -> tuple[str, ...]:
        if self._names is None:
            self._names, self._profiles = _build_universe(self._seed, self._n)
            self._known = frozenset(self._names)
        return self._names

    def _session(self, day: date) -> Session | None:
        if day not in self._sessions:
            if len(self._sessions) > 64:
                self._sessions.clear()
            self._sessions[day] = self._session_for(day)
        return self._sessions[day]

    def _day_cache(self, day: date) -> dict[str, _Day]:
        cache = self._days.get(day)
        if cache is None:
            if len(self._days) > 8:
                self._days.pop(next(iter(self._days)))
            cache = self._days[day] = {}
        return cache

    def _day(self, symbol: str, day: date) -> _Day:
        cache = self._day_cache(day)
        found = cache.get(symbol)
        if found is None:
            found = cache[symbol] = self._draw_day(symbol, f"{self._seed}:{day.isoformat()}:")
        return found

    def _draw_day(self, symbol: str, prefix: str) -> _Day:
        """``prefix`` is ``"{seed}:{date}:"``; the draws come from its digest with ``symbol``."""
        prof = self._profiles[symbol]
        digest = hashlib.blake2b(f"{prefix}{symbol}".encode(), digest_size=32).digest()
        u0, u1, u2, u3, u4, u5, u6, u7 = [(n + 0.5) * _INV_U32 for n in _WORDS.unpack(digest)]
        r1, r2 = math.sqrt(-2.0 * math.log(u0)), math.sqrt(-2.0 * math.log(u2))
        z1, z2 = r1 * math.cos(2 * math.pi * u1), r1 * math.sin(2 * math.pi * u1)
        z3, z4 = r2 * math.cos(2 * math.pi * u3), r2 * math.sin(2 * math.pi * u3)
        prev = prof.level * math.exp(0.25 * z1)
        gap = z2 * (0.08 if u4 < 0.04 else prof.vol * 0.5)  # ~4 % of symbols are movers
        gap = min(max(gap, -0.6), 1.5)
        return _Day(
            prev,
            gap,
            math.exp(0.35 * z3) * (1.0 + 25.0 * abs(gap)),
            abs(z4) * prof.vol * 0.4 + abs(gap) * 0.25,
            (u7 * 2) % 1.0,
            u5,
            u6,
            u7 < 0.5,
            _dec(prev),
            _dec(prev * prof.vol * 1.25),
            prof.adv * 0.03,
            prev * math.exp(gap),
        )

    def _snapshot(self, symbol: str, d: _Day, at: datetime, frac: float) -> Snapshot:
        if frac <= 0:
            pc = d.prev_close_d
            return Snapshot(symbol, at, pc, pc, pc, pc, 0, 0, d.atr_d)
        open_px = d.open_px
        last = d.prev_close * math.exp(d.gap * (0.6 + 0.4 * frac))
        spread = d.range_pct * math.sqrt(frac)
        high = max(open_px * (1 + spread * d.up_share), last)
        low = min(open_px * (1 - spread * (1 - d.up_share)), last)
        typical = d.typical_pm * frac
        return Snapshot(
            symbol,
            at,
            Decimal(f"{last:.2f}") if last >= 1 else _dec(last),
            d.prev_close_d,
            Decimal(f"{high:.2f}") if high >= 1 else _dec(high),
            Decimal(f"{low:.2f}") if low >= 1 else _dec(low),
            int(typical * d.rvol),
            int(typical),
            d.atr_d,
        )

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

    def _stream(self, symbol: str, day: date, session: Session) -> _BarStream:
        key = (symbol, day)
        found = self._bars.get(key)
        if found is not None:
            self._bars.move_to_end(key)
            return found
        d, prof = self._day(symbol, day), self._profiles[symbol]
        found = self._bars[key] = _BarStream(symbol, session, d, prof, self._seed)
        if len(self._bars) > self._bar_cache:
            self._bars.popitem(last=False)
        return found


@final
class _BarStream:
    """One (symbol, session)'s bars, drawn on demand in order: the same values as all at once."""

    def __init__(self, symbol: str, session: Session, d: _Day, prof: _Profile, seed: int) -> None:
        self._symbol = symbol
        self.session = session
        self._rng = rng = random.Random(f"{seed}:{session.date.isoformat()}:{symbol}:bars")
        self._n = n = int((session.close - session.open) / BAR)
        self._sigma = prof.vol / math.sqrt(390) * (1 + 5 * abs(d.gap))
        direction = (1 if d.gap >= 0 else -1) * (1 if d.cont else -1)
        self._drift = direction * abs(d.gap) * rng.uniform(0.3, 1.0)
        self._weights, self._total_w = _weights(n)
        self._day_volume = prof.adv * (1 + (d.rvol - 1) * 0.6)
        self._px = d.prev_close * math.exp(d.gap)
        self.bars: list[Bar] = []

    def upto(self, end: datetime) -> list[Bar]:
        """The bars complete by ``end`` (drawing the missing ones)."""
        count = min(max((end - self.session.open) // BAR, 0), self._n)
        rng, n, sigma, bars = self._rng, self._n, self._sigma, self.bars
        for t in range(len(bars), count):
            px = self._px
            vol_t = sigma * (1 + 1.5 * math.exp(-t / 30) + 0.5 * math.exp(-(n - t) / 30))
            step = self._drift * math.exp(-t / 60) / 60 + vol_t * rng.gauss(0, 1)
            if rng.random() < 0.003:
                step += rng.gauss(0, 4 * vol_t)
            close = px * math.exp(step)
            high = max(px, close) * math.exp(abs(rng.gauss(0, 0.6 * vol_t)))
            low = min(px, close) * math.exp(-abs(rng.gauss(0, 0.6 * vol_t)))
            share = self._weights[t] / self._total_w
            volume = int(self._day_volume * share * math.exp(rng.gauss(0, 0.3)))
            start = self.session.open + t * BAR
            bars.append(
                Bar(self._symbol, start, _dec(px), _dec(high), _dec(low), _dec(close), volume)
            )
            self._px = close
        return bars[:count]

"""The simulated market's model: universe, per-day draws, snapshots, bars, and a cheap gap screen.

Private to ``sim_market`` (which documents the model). Every value here is a pure function of
its arguments: the day's draws of a symbol come from a BLAKE2b digest of
``"{seed}:{date}:{symbol}"``, the bars from a ``random.Random`` seeded with the same names.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple, final

import numpy as np
import numpy.typing as npt

from finagent.domain.market import BAR, Bar, Session, Snapshot

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from finagent.domain.gaps import ScanRules

__all__ = [
    "BarStream",
    "Columns",
    "Day",
    "Profile",
    "build_universe",
    "columns",
    "draw_day",
    "may_pass",
    "snapshot",
    "universe_columns",
]

_WORDS = struct.Struct("<8I")
_INV_U32 = 1.0 / 2**32
_TWO_PI = 2 * math.pi
_MARGIN = 1e-9


def dec(value: float) -> Decimal:
    """A simulated price as Decimal: cents at or above $1, hundredths of a cent below."""
    return Decimal(f"{value:.2f}") if value >= 1 else Decimal(f"{value:.4f}")


class Profile(NamedTuple):
    """What does not change from day to day for a symbol."""

    level: float
    adv: float
    vol: float


class Day(NamedTuple):
    """One symbol's draws for one session date."""

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


@lru_cache(maxsize=8)
def _weights(n: int) -> tuple[tuple[float, ...], float]:
    """The U-shaped intraday volume weights of an ``n``-bar session and their sum."""
    weights = tuple(1 + 4 * math.exp(-t / 15) + 2 * math.exp(-(n - t) / 20) for t in range(n))
    return weights, sum(weights)


@lru_cache(maxsize=4)
def build_universe(seed: int, n: int) -> tuple[tuple[str, ...], dict[str, Profile]]:
    """The sorted names and profiles of a universe (day-independent: built once a process)."""
    # One sequential stream: symbol k's name and profile depend only on the seed and
    # the k-1 symbols before it, so the first 5,000 of 10,000 are the same 5,000.
    rng = random.Random(f"{seed}:universe")
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    profiles: dict[str, Profile] = {}
    while len(profiles) < n:
        length = rng.choices((1, 2, 3, 4, 5), weights=(1, 8, 40, 45, 6))[0]
        name = "".join(rng.choice(letters) for _ in range(length))
        level = min(max(25.0 * math.exp(1.1 * rng.gauss(0, 1)), 0.5), 900.0)
        adv = min(max(800_000.0 * math.exp(1.4 * rng.gauss(0, 1)), 20_000.0), 2e8)
        vol = 0.025 * (25.0 / level) ** 0.25 * math.exp(0.3 * rng.gauss(0, 1))
        profiles.setdefault(name, Profile(level, adv, min(max(vol, 0.008), 0.15)))
    return tuple(sorted(profiles)), profiles


def draw_day(symbol: str, prof: Profile, prefix: str) -> Day:
    """``prefix`` is ``"{seed}:{date}:"``; the draws come from its digest with ``symbol``."""
    digest = hashlib.blake2b(f"{prefix}{symbol}".encode(), digest_size=32).digest()
    u0, u1, u2, u3, u4, u5, u6, u7 = [(n + 0.5) * _INV_U32 for n in _WORDS.unpack(digest)]
    r1, r2 = math.sqrt(-2.0 * math.log(u0)), math.sqrt(-2.0 * math.log(u2))
    z1, z2 = r1 * math.cos(2 * math.pi * u1), r1 * math.sin(2 * math.pi * u1)
    z3, z4 = r2 * math.cos(2 * math.pi * u3), r2 * math.sin(2 * math.pi * u3)
    prev = prof.level * math.exp(0.25 * z1)
    gap = z2 * (0.08 if u4 < 0.04 else prof.vol * 0.5)  # ~4 % of symbols are movers
    gap = min(max(gap, -0.6), 1.5)
    return Day(
        prev,
        gap,
        math.exp(0.35 * z3) * (1.0 + 25.0 * abs(gap)),
        abs(z4) * prof.vol * 0.4 + abs(gap) * 0.25,
        (u7 * 2) % 1.0,
        u5,
        u6,
        u7 < 0.5,
        dec(prev),
        dec(prev * prof.vol * 1.25),
        prof.adv * 0.03,
        prev * math.exp(gap),
    )


class Columns(NamedTuple):
    """Known symbols with their profiles as arrays: the input of :func:`may_pass`."""

    names: tuple[str, ...]
    encoded: tuple[bytes, ...]
    level: npt.NDArray[np.float64]
    vol: npt.NDArray[np.float64]
    adv: npt.NDArray[np.float64]


def columns(symbols: Sequence[str], profiles: Mapping[str, Profile]) -> Columns:
    """The known ``symbols`` (in order) as :class:`Columns`; unknown ones are left out."""
    names = tuple(s for s in symbols if s in profiles)
    rows = [profiles[s] for s in names]
    return Columns(
        names,
        tuple(s.encode() for s in names),
        np.array([p.level for p in rows], dtype=np.float64),
        np.array([p.vol for p in rows], dtype=np.float64),
        np.array([p.adv for p in rows], dtype=np.float64),
    )


@lru_cache(maxsize=4)
def universe_columns(seed: int, n: int) -> Columns:
    """:func:`columns` of a whole universe (day-independent: built once a process)."""
    names, profiles = build_universe(seed, n)
    return columns(names, profiles)


def may_pass(cols: Columns, prefix: str, frac: float, rules: ScanRules) -> list[str]:
    """The symbols whose snapshot at pre-market fraction ``frac > 0`` may pass ``rules``.

    The same draws as :func:`draw_day`, in float arrays (one digest per symbol, the rest
    vectorised), so ~99 % of a universe is dropped without building a Day or a Decimal. It
    never drops a symbol that passes; every test keeps a margin for what the Snapshot rounds:

    - gap: prices are rounded by :func:`dec` (relative error at most ``0.005 / price`` each),
      so a symbol is dropped only when its unrounded ``last / prev`` lies inside the band
      ``(1 - g, 1 + g)`` shrunk by ``2 (eps_last + eps_prev)``: the rounded ratio is inside too;
    - price: ``last`` is dropped only when more than half a cent outside the band;
    - volume: ``int(typical * rvol) <= typical * rvol``; relative volume: ``int(typical)`` is
      over ``typical - 1``, so the Snapshot's ratio is below ``rvol * typical / (typical - 1)``.

    Each bound also has a 1e-9 relative margin for float rounding (numpy's and libm's
    functions may differ in the last bits).
    """
    if not cols.names:
        return []
    base = hashlib.blake2b(prefix.encode(), digest_size=32)
    digests: list[bytes] = []
    for symbol in cols.encoded:
        h = base.copy()
        h.update(symbol)
        digests.append(h.digest())
    words = np.frombuffer(b"".join(digests), dtype="<u4").reshape(-1, 8)
    u = (words[:, :5] + 0.5) * _INV_U32
    r1, angle = np.sqrt(-2.0 * np.log(u[:, 0])), _TWO_PI * u[:, 1]
    scale = np.where(u[:, 4] < 0.04, 0.08, cols.vol * 0.5)
    gap = np.clip(r1 * np.sin(angle) * scale, -0.6, 1.5)
    ratio = np.exp(gap * (0.6 + 0.4 * frac))
    prev = cols.level * np.exp(0.25 * r1 * np.cos(angle))
    last = prev * ratio
    slack = 0.01 / last + 0.01 / prev + _MARGIN
    g = rules.min_gap_pct / 100
    keep = (ratio <= (1 - g) * (1 + slack)) | (ratio >= (1 + g) * (1 - slack))
    keep &= (last + 0.005) * (1 + _MARGIN) >= rules.min_price
    keep &= (last - 0.005) * (1 - _MARGIN) <= rules.max_price
    rvol = np.exp(0.35 * np.sqrt(-2.0 * np.log(u[:, 2])) * np.cos(_TWO_PI * u[:, 3]))
    rvol *= 1.0 + 25.0 * np.abs(gap)
    typical = cols.adv * 0.03 * frac
    keep &= typical * rvol * (1 + _MARGIN) >= rules.min_premarket_volume
    over_one = np.maximum(typical - 1.0, 1e-300)
    keep &= (typical <= 1) | (
        rvol * typical / over_one * (1 + _MARGIN) >= rules.min_relative_volume
    )
    names = cols.names
    return [names[i] for i in np.flatnonzero(keep)]


def snapshot(symbol: str, d: Day, at: datetime, frac: float) -> Snapshot:
    """The pre-market as of ``at``, ``frac`` of the way from 04:00 to the open."""
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
        Decimal(f"{last:.2f}") if last >= 1 else dec(last),
        d.prev_close_d,
        Decimal(f"{high:.2f}") if high >= 1 else dec(high),
        Decimal(f"{low:.2f}") if low >= 1 else dec(low),
        int(typical * d.rvol),
        int(typical),
        d.atr_d,
    )


@final
class BarStream:
    """One (symbol, session)'s bars, drawn on demand in order: the same values as all at once."""

    def __init__(self, symbol: str, session: Session, d: Day, prof: Profile, seed: int) -> None:
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
            bars.append(Bar(self._symbol, start, dec(px), dec(high), dec(low), dec(close), volume))
            self._px = close
        return bars[:count]

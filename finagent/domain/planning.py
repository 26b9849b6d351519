"""Opening-range-breakout trade plans.

Geometry for a long (a short mirrors it):

    entry   = opening-range high + 1 tick        (a buy-stop: it fills only on a breakout)
    stop    = the highest ("tighter") or lowest ("wider") of
              pre-market low, opening-range low, entry - atr_multiple x ATR
              (levels at or above the entry are ignored)
    R       = entry - stop
    target  = entry + target_r x R
    time stop = min(range end + time_stop_minutes, flatten time)
    flatten = session close - flatten_minutes_before_close

``PlanRules`` mirrors ``PlanSettings`` field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from finagent.domain.market import Bar, Direction, Session, Side
from finagent.domain.money import TICK, dec, price

if TYPE_CHECKING:
    from collections.abc import Iterable
    from decimal import Decimal

    from finagent.domain.gaps import GapCandidate

__all__ = ["OpeningRange", "PlanRules", "TradePlan", "opening_range", "plan_key", "plan_trade"]


@dataclass(frozen=True, slots=True)
class PlanRules:
    """How plans are drawn (defaults: 5-minute range, tighter stop, 2R target)."""

    range_minutes: int = 5
    stop_mode: Literal["tighter", "wider"] = "tighter"
    atr_multiple: float = 1.0
    target_r: float = 2.0
    time_stop_minutes: int = 120
    flatten_minutes_before_close: int = 5


@dataclass(frozen=True, slots=True)
class OpeningRange:
    """High and low of the first ``minutes`` of the session, and when the range is complete."""

    high: Decimal
    low: Decimal
    end: datetime
    volume: int


@dataclass(frozen=True, slots=True)
class TradePlan:
    """A bracket to place: enter on the breakout, exit at the stop, the target or in time."""

    key: str
    symbol: str
    side: Side
    entry: Decimal
    stop: Decimal
    target: Decimal
    valid_from: datetime
    time_stop_at: datetime
    flatten_at: datetime
    stop_basis: str

    @property
    def risk_per_share(self) -> Decimal:
        """R: the loss per share if the stop is hit at its price."""
        return abs(self.entry - self.stop)


def plan_key(session: Session, symbol: str, side: Side) -> str:
    """Deterministic plan identity: one plan per symbol, side and session."""
    return f"{session.date:%Y%m%d}-{symbol}-{side.value}"


def opening_range(bars: Iterable[Bar], session: Session, minutes: int) -> OpeningRange | None:
    """The range of the bars that start in ``[open, open + minutes)``; None until all are in."""
    end = session.open + timedelta(minutes=minutes)
    inside = [b for b in bars if session.open <= b.start < end]
    if len({b.start for b in inside}) < minutes:
        return None
    return OpeningRange(
        high=max(b.high for b in inside),
        low=min(b.low for b in inside),
        end=end,
        volume=sum(b.volume for b in inside),
    )


def _stop(
    side: Side, entry: Decimal, levels: dict[str, Decimal], mode: str
) -> tuple[str, Decimal] | None:
    valid = {k: v for k, v in levels.items() if v > 0 and (entry - v) * side.sign > 0}
    if not valid:
        return None
    # Tighter = closest to the entry: the highest level for a long, the lowest for a short.
    closest = (mode == "tighter") == (side is Side.LONG)
    pick = max if closest else min
    basis = pick(sorted(valid), key=lambda k: valid[k])
    return basis, valid[basis]


def plan_trade(
    candidate: GapCandidate,
    opening_range_bars: Iterable[Bar],
    rules: PlanRules,
    session: Session,
) -> TradePlan | None:
    """Draw the plan for a candidate once its opening range is complete.

    Returns None when the range is not complete yet, no stop level lies on the right side of
    the entry, or the time stop would come before the range ends.
    """
    rng = opening_range(opening_range_bars, session, rules.range_minutes)
    if rng is None:
        return None
    side = Side.LONG if candidate.direction is Direction.UP else Side.SHORT
    snap = candidate.snapshot
    entry = price(rng.high + TICK) if side is Side.LONG else price(rng.low - TICK)
    atr_stop = entry - side.sign * dec(rules.atr_multiple) * snap.atr
    premarket = snap.premarket_low if side is Side.LONG else snap.premarket_high
    opening = rng.low if side is Side.LONG else rng.high
    levels = {"premarket": premarket, "opening_range": opening, "atr": atr_stop}
    chosen = _stop(side, entry, levels, rules.stop_mode)
    if chosen is None or entry <= 0:
        return None
    basis, stop = chosen[0], price(chosen[1])
    if (entry - stop) * side.sign <= 0:
        return None
    target = price(entry + side.sign * dec(rules.target_r) * abs(entry - stop))
    if target <= 0:
        return None
    flatten_at = session.close - timedelta(minutes=rules.flatten_minutes_before_close)
    time_stop_at = min(rng.end + timedelta(minutes=rules.time_stop_minutes), flatten_at)
    if time_stop_at <= rng.end:
        return None
    return TradePlan(
        key=plan_key(session, candidate.symbol, side),
        symbol=candidate.symbol,
        side=side,
        entry=entry,
        stop=stop,
        target=target,
        valid_from=rng.end,
        time_stop_at=time_stop_at,
        flatten_at=flatten_at,
        stop_basis=basis,
    )

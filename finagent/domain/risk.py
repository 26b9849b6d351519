"""Risk: the trading state, position sizing, and the approve-or-reject decision for a plan.

``RiskProfile`` mirrors ``RiskSettings`` field by field (plus a price band). Every limit is
taken literally: 0 open positions allowed means no entries. ``assess`` collects every reason
a plan fails rather than stopping at the first, so a rejection explains itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from finagent.domain.money import ZERO, dec, money, shares

if TYPE_CHECKING:
    from collections.abc import Mapping
    from decimal import Decimal

    from finagent.domain.orders import BracketOrder, Position
    from finagent.domain.planning import TradePlan

__all__ = [
    "Book",
    "RejectCode",
    "RiskDecision",
    "RiskProfile",
    "RiskReason",
    "Sizing",
    "TradingState",
    "assess",
    "may_submit",
    "next_state",
    "size",
]

_RATE_WINDOW = timedelta(minutes=1)


class TradingState(StrEnum):
    """ACTIVE trades; REDUCING lets only exposure-reducing orders through; HALTED sends none.

    DEGRADED is never chosen by the operator: it is ACTIVE while the store cannot commit (no new
    entries; exits still go out, as in REDUCING), and it ends by itself when commits succeed.
    """

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"
    DEGRADED = "degraded"


class RejectCode(StrEnum):
    """Why a plan was rejected (stable codes, fit for metrics labels)."""

    TRADING_STATE = "trading_state"
    DAILY_LOSS = "daily_loss"
    SIDE_NOT_ALLOWED = "side_not_allowed"
    PRICE_OUT_OF_BAND = "price_out_of_band"
    DUPLICATE_SYMBOL = "duplicate_symbol"
    MAX_POSITIONS = "max_positions"
    ORDER_RATE = "order_rate"
    PDT_EQUITY = "pdt_equity"
    PLAN_EXPIRED = "plan_expired"
    SIZE_ZERO = "size_zero"


@dataclass(frozen=True, slots=True)
class RiskProfile:
    """The limits every plan is checked against (defaults match ``RiskSettings``)."""

    risk_per_trade_pct: float = 1.0
    max_open_positions: int = 5
    max_notional_per_position: float = 25_000.0
    max_gross_exposure: float = 100_000.0
    max_daily_loss: float = 1_000.0
    max_orders_per_minute: int = 30
    allowed_sides: tuple[str, ...] = ("long", "short")
    pdt_equity_floor: float = 25_000.0
    enforce_pdt: bool = True
    starting_equity: float = 100_000.0
    min_price: float = 2.0
    max_price: float = 200.0


@dataclass(frozen=True, slots=True)
class Book:
    """What the account holds now: the input risk checks read. Build it from the broker."""

    equity: Decimal
    buying_power: Decimal
    day_pnl: Decimal
    positions: tuple[Position, ...] = ()
    pending: tuple[BracketOrder, ...] = ()
    last_prices: Mapping[str, Decimal] = field(default_factory=dict)
    recent_orders: tuple[datetime, ...] = ()
    state: TradingState = TradingState.ACTIVE

    def gross_exposure(self) -> Decimal:
        """Notional of open positions at the last price plus working entry orders."""
        held = sum(
            (p.notional(self.last_prices.get(p.symbol, p.avg_price)) for p in self.positions),
            ZERO,
        )
        return held + sum((o.notional for o in self.pending), ZERO)

    def symbols(self) -> frozenset[str]:
        """Symbols with a position or a working entry."""
        return frozenset(p.symbol for p in self.positions) | {o.symbol for o in self.pending}


@dataclass(frozen=True, slots=True)
class RiskReason:
    """One failed rule: a stable code and a sentence with the numbers."""

    code: RejectCode
    detail: str


@dataclass(frozen=True, slots=True)
class Sizing:
    """Shares allowed by each cap; ``quantity`` is the smallest, ``binding`` names it."""

    quantity: int
    binding: str
    caps: Mapping[str, int]
    risk_amount: Decimal


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """Approved with a share count, or rejected with every reason. ``state`` is post-check."""

    plan_key: str
    approved: bool
    quantity: int
    reasons: tuple[RiskReason, ...]
    state: TradingState
    risk_amount: Decimal = ZERO

    @property
    def codes(self) -> tuple[RejectCode, ...]:
        """The reason codes, in the order the rules ran."""
        return tuple(r.code for r in self.reasons)


def next_state(current: TradingState, day_pnl: Decimal, profile: RiskProfile) -> TradingState:
    """HALTED once the day's loss reaches ``max_daily_loss``; otherwise unchanged (sticky)."""
    if day_pnl < 0 and -day_pnl >= dec(profile.max_daily_loss):
        return TradingState.HALTED
    return current


def may_submit(state: TradingState, reduces_exposure: bool) -> bool:
    """Whether an order may go out: cancels and flatten-all bypass this (they are the exits)."""
    if state is TradingState.ACTIVE:
        return True
    return state in (TradingState.REDUCING, TradingState.DEGRADED) and reduces_exposure


def size(plan: TradePlan, book: Book, profile: RiskProfile) -> Sizing:
    """Whole shares within risk per trade, max notional, buying power and gross exposure."""
    risk_budget = book.equity * dec(profile.risk_per_trade_pct) / 100
    entry = plan.entry
    per_share = plan.risk_per_share
    room = dec(profile.max_gross_exposure) - book.gross_exposure()
    caps = {
        "risk": shares(risk_budget / per_share) if per_share > 0 else 0,
        "max_notional": shares(dec(profile.max_notional_per_position) / entry),
        "buying_power": shares(book.buying_power / entry),
        "gross_exposure": shares(room / entry),
    }
    binding = min(sorted(caps), key=lambda k: caps[k])
    quantity = max(caps[binding], 0)
    return Sizing(quantity, binding, caps, money(per_share * quantity))


def _rules(plan: TradePlan, book: Book, profile: RiskProfile, now: datetime) -> list[RiskReason]:
    found: list[RiskReason] = []
    add = found.append
    if plan.side.value not in profile.allowed_sides:
        add(RiskReason(RejectCode.SIDE_NOT_ALLOWED, f"{plan.side} not in {profile.allowed_sides}"))
    if not dec(profile.min_price) <= plan.entry <= dec(profile.max_price):
        band = f"[{profile.min_price}, {profile.max_price}]"
        add(RiskReason(RejectCode.PRICE_OUT_OF_BAND, f"entry {plan.entry} outside {band}"))
    if plan.symbol in book.symbols():
        add(RiskReason(RejectCode.DUPLICATE_SYMBOL, f"already holding or working {plan.symbol}"))
    held = len(book.symbols())
    if held >= profile.max_open_positions:
        add(RiskReason(RejectCode.MAX_POSITIONS, f"{held} open >= {profile.max_open_positions}"))
    recent = sum(1 for t in book.recent_orders if now - _RATE_WINDOW < t <= now)
    if recent >= profile.max_orders_per_minute:
        limit = profile.max_orders_per_minute
        add(RiskReason(RejectCode.ORDER_RATE, f"{recent} orders in the last minute >= {limit}"))
    if profile.enforce_pdt and book.equity < dec(profile.pdt_equity_floor):
        floor = profile.pdt_equity_floor
        add(RiskReason(RejectCode.PDT_EQUITY, f"equity {book.equity} < PDT floor {floor}"))
    if now >= plan.time_stop_at:
        add(RiskReason(RejectCode.PLAN_EXPIRED, f"time stop {plan.time_stop_at} has passed"))
    return found


def assess(plan: TradePlan, book: Book, profile: RiskProfile, now: datetime) -> RiskDecision:
    """Approve ``plan`` with a share count, or reject it with every reason that applies."""
    state = next_state(book.state, book.day_pnl, profile)
    reasons: list[RiskReason] = []
    if state is TradingState.HALTED and book.state is not TradingState.HALTED:
        limit = profile.max_daily_loss
        reasons.append(RiskReason(RejectCode.DAILY_LOSS, f"day P&L {book.day_pnl} hit -{limit}"))
    elif state is TradingState.DEGRADED:
        detail = "trading is degraded (the store cannot commit): no new entries"
        reasons.append(RiskReason(RejectCode.TRADING_STATE, detail))
    elif not may_submit(state, reduces_exposure=False):
        reasons.append(RiskReason(RejectCode.TRADING_STATE, f"trading is {state}: no new entries"))
    reasons.extend(_rules(plan, book, profile, now))
    sizing = size(plan, book, profile)
    if sizing.quantity < 1:
        detail = f"0 shares: bound by {sizing.binding} ({dict(sizing.caps)})"
        reasons.append(RiskReason(RejectCode.SIZE_ZERO, detail))
    if reasons:
        return RiskDecision(plan.key, False, 0, tuple(reasons), state)
    return RiskDecision(plan.key, True, sizing.quantity, (), state, sizing.risk_amount)

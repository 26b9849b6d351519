"""Risk: trading state, sizing caps and the approve/reject decision."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, Position
from finagent.domain.planning import TradePlan
from finagent.domain.risk import (
    Book,
    RejectCode,
    RiskProfile,
    TradingState,
    assess,
    may_submit,
    next_state,
    size,
)
from tests.domain.trading_helpers import SESSION, D, long_plan

NOW = SESSION.open + timedelta(minutes=6)
PROFILE = RiskProfile()
PLAN = long_plan()  # entry 11.21, stop 10.71: R = 0.50


def book(**kwargs: object) -> Book:
    base: dict[str, object] = {"equity": D(100_000), "buying_power": D(200_000), "day_pnl": D(0)}
    base.update(kwargs)
    return Book(**base)  # type: ignore[arg-type]


def test_a_plan_within_every_limit_is_approved_with_risk_sized_shares() -> None:
    decision = assess(PLAN, book(), PROFILE, NOW)
    # 1 % of 100k = 1,000 / 0.50 = 2,000 shares, but 25k max notional / 11.21 = 2,230: risk binds
    assert decision.approved
    assert decision.quantity == 2000
    assert decision.risk_amount == D("1000.00")
    assert decision.reasons == () and decision.codes == ()
    assert decision.state is TradingState.ACTIVE


def test_max_notional_caps_the_size() -> None:
    decision = assess(PLAN, book(), replace(PROFILE, max_notional_per_position=5_000.0), NOW)
    assert decision.quantity == 446  # 5,000 / 11.21


def test_buying_power_caps_the_size() -> None:
    assert size(PLAN, book(buying_power=D(1121)), PROFILE).quantity == 100
    assert size(PLAN, book(buying_power=D(1121)), PROFILE).binding == "buying_power"


def test_gross_exposure_counts_positions_at_last_price_and_working_entries() -> None:
    held = Position("XYZ", -1000, D(50))
    working = BracketOrder("w", "QQQ", Side.LONG, 1000, D(40), D(39), D(42))
    full = book(positions=(held,), pending=(working,), last_prices={"XYZ": D(55)})
    assert full.gross_exposure() == D(95_000)
    sizing = size(PLAN, full, PROFILE)
    assert sizing.binding == "gross_exposure" and sizing.quantity == 446


def test_crossing_the_daily_loss_halts_trading_and_rejects() -> None:
    decision = assess(PLAN, book(day_pnl=D(-1000)), PROFILE, NOW)
    assert not decision.approved and decision.quantity == 0
    assert decision.state is TradingState.HALTED
    assert decision.codes == (RejectCode.DAILY_LOSS,)


def test_a_loss_short_of_the_limit_keeps_trading_active() -> None:
    assert next_state(TradingState.ACTIVE, D("-999.99"), PROFILE) is TradingState.ACTIVE
    assert next_state(TradingState.ACTIVE, D(500), PROFILE) is TradingState.ACTIVE


def test_halted_stays_halted_even_after_a_recovery() -> None:
    assert next_state(TradingState.HALTED, D(500), PROFILE) is TradingState.HALTED
    decision = assess(PLAN, book(state=TradingState.HALTED), PROFILE, NOW)
    assert decision.codes == (RejectCode.TRADING_STATE,)


def test_reducing_lets_only_exposure_reducing_orders_through() -> None:
    assert may_submit(TradingState.REDUCING, reduces_exposure=True)
    assert not may_submit(TradingState.REDUCING, reduces_exposure=False)
    assert not may_submit(TradingState.HALTED, reduces_exposure=True)
    assert may_submit(TradingState.ACTIVE, reduces_exposure=False)
    decision = assess(PLAN, book(state=TradingState.REDUCING), PROFILE, NOW)
    assert decision.codes == (RejectCode.TRADING_STATE,)
    assert decision.state is TradingState.REDUCING


def test_degraded_rejects_new_plans_with_the_reason_and_lets_exits_through() -> None:
    assert may_submit(TradingState.DEGRADED, reduces_exposure=True)
    assert not may_submit(TradingState.DEGRADED, reduces_exposure=False)
    decision = assess(PLAN, book(state=TradingState.DEGRADED), PROFILE, NOW)
    assert not decision.approved and decision.codes == (RejectCode.TRADING_STATE,)
    assert "the store cannot commit" in decision.reasons[0].detail
    assert decision.state is TradingState.DEGRADED


def test_a_second_position_in_the_same_symbol_is_rejected() -> None:
    held = book(positions=(Position("ABC", 100, D(11)),))
    assert RejectCode.DUPLICATE_SYMBOL in assess(PLAN, held, PROFILE, NOW).codes
    working = BracketOrder("w", "ABC", Side.LONG, 10, D(11), D(10), D(12))
    assert RejectCode.DUPLICATE_SYMBOL in assess(PLAN, book(pending=(working,)), PROFILE, NOW).codes


def test_max_open_positions_counts_positions_and_working_entries() -> None:
    held = tuple(Position(s, 10, D(10)) for s in ("A", "B", "C", "D", "E"))
    assert assess(PLAN, book(positions=held), PROFILE, NOW).codes == (RejectCode.MAX_POSITIONS,)
    assert assess(PLAN, book(positions=held[:4]), PROFILE, NOW).approved


def test_order_rate_counts_only_the_last_minute() -> None:
    old = tuple(NOW - timedelta(seconds=61) for _ in range(30))
    assert assess(PLAN, book(recent_orders=old), PROFILE, NOW).approved
    recent = tuple(NOW - timedelta(seconds=i) for i in range(30))
    assert assess(PLAN, book(recent_orders=recent), PROFILE, NOW).codes == (RejectCode.ORDER_RATE,)


def test_pdt_floor_rejects_small_accounts_only_when_enforced() -> None:
    small = book(equity=D(20_000))
    assert RejectCode.PDT_EQUITY in assess(PLAN, small, PROFILE, NOW).codes
    assert assess(PLAN, small, replace(PROFILE, enforce_pdt=False), NOW).approved


def test_sides_and_price_band_are_enforced() -> None:
    only_short = replace(PROFILE, allowed_sides=("short",))
    assert assess(PLAN, book(), only_short, NOW).codes == (RejectCode.SIDE_NOT_ALLOWED,)
    band = replace(PROFILE, min_price=20.0)
    assert assess(PLAN, book(), band, NOW).codes == (RejectCode.PRICE_OUT_OF_BAND,)


def test_a_plan_past_its_time_stop_is_expired() -> None:
    late = PLAN.time_stop_at
    assert assess(PLAN, book(), PROFILE, late).codes == (RejectCode.PLAN_EXPIRED,)


def test_a_plan_too_big_for_any_share_is_rejected_with_the_binding_cap() -> None:
    decision = assess(PLAN, book(buying_power=D(5)), PROFILE, NOW)
    assert decision.codes == (RejectCode.SIZE_ZERO,)
    assert "buying_power" in decision.reasons[0].detail


def test_every_failing_rule_is_reported_at_once() -> None:
    bad = book(equity=D(20_000), positions=(Position("ABC", 1, D(1)),))
    codes = assess(PLAN, bad, replace(PROFILE, allowed_sides=()), PLAN.time_stop_at).codes
    assert codes == (
        RejectCode.SIDE_NOT_ALLOWED,
        RejectCode.DUPLICATE_SYMBOL,
        RejectCode.PDT_EQUITY,
        RejectCode.PLAN_EXPIRED,
    )


cents = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("500.00"), places=2)


@given(
    entry=cents,
    risk_cents=st.integers(min_value=1, max_value=5_000),
    equity=st.decimals(min_value=1, max_value=10_000_000, places=2),
    buying_power=st.decimals(min_value=0, max_value=10_000_000, places=2),
    pct=st.floats(min_value=0.01, max_value=100),
    max_notional=st.floats(min_value=0, max_value=1e7),
    max_gross=st.floats(min_value=0, max_value=1e7),
    held=st.decimals(min_value=0, max_value=1_000_000, places=2),
)
def test_sizing_never_risks_more_than_allowed_nor_exceeds_any_cap(
    entry: Decimal,
    risk_cents: int,
    equity: Decimal,
    buying_power: Decimal,
    pct: float,
    max_notional: float,
    max_gross: float,
    held: Decimal,
) -> None:
    stop = entry - Decimal(risk_cents) / 100
    plan = TradePlan(
        "k", "ABC", Side.LONG, entry, stop, entry + 1, NOW, NOW + timedelta(hours=1),
        NOW + timedelta(hours=2), "atr",
    )  # fmt: skip
    profile = RiskProfile(
        risk_per_trade_pct=pct, max_notional_per_position=max_notional, max_gross_exposure=max_gross
    )
    current = book(
        equity=equity,
        buying_power=buying_power,
        positions=(Position("XYZ", 1, held),) if held else (),
    )
    sizing = size(plan, current, profile)
    qty = sizing.quantity
    assert qty >= 0
    assert qty * plan.risk_per_share <= equity * Decimal(repr(pct)) / 100
    assert qty * entry <= buying_power
    assert qty * entry <= Decimal(repr(max_notional))
    assert qty == 0 or current.gross_exposure() + qty * entry <= Decimal(repr(max_gross))

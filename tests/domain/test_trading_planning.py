"""Opening-range-breakout plans: entry, stop choice, target, time stop and flatten."""

from datetime import datetime, timedelta

import pytest

from finagent.domain.market import Session, Side
from finagent.domain.planning import PlanRules, opening_range, plan_key, plan_trade
from tests.domain.trading_helpers import DAY, NY, SESSION, D, bar, candidate, long_plan, range_bars


def test_opening_range_spans_the_first_n_minutes_only() -> None:
    bars = [*range_bars("11.20", "10.70"), bar(5, "12", "15", "9", "12")]
    rng = opening_range(bars, SESSION, 5)
    assert rng is not None
    assert (rng.high, rng.low, rng.end) == (
        D("11.20"),
        D("10.70"),
        SESSION.open + timedelta(minutes=5),
    )
    assert rng.volume == 50_000


def test_no_opening_range_until_every_minute_is_in() -> None:
    assert opening_range(range_bars()[:4], SESSION, 5) is None
    assert plan_trade(candidate(), range_bars()[:4], PlanRules(), SESSION) is None


def test_long_enters_one_tick_above_the_range_high() -> None:
    plan = long_plan()
    assert plan.side is Side.LONG
    assert plan.entry == D("11.21")
    assert plan.key == "20260310-ABC-long" == plan_key(SESSION, "ABC", Side.LONG)
    assert plan.valid_from == SESSION.open + timedelta(minutes=5)


def test_stop_is_range_low_when_tighter_than_atr_and_premarket_low() -> None:
    # entry 11.21; range low 10.70; pre-market low 10.20; ATR stop 11.21 - 1 x 0.50 = 10.71
    plan = long_plan(atr_multiple=2.0)  # ATR stop 10.21: the range low (10.70) is tighter
    assert (plan.stop, plan.stop_basis) == (D("10.70"), "opening_range")


def test_stop_is_atr_when_it_is_the_tightest() -> None:
    plan = long_plan()
    assert (plan.stop, plan.stop_basis) == (D("10.71"), "atr")
    assert plan.risk_per_share == D("0.50")


def test_wider_mode_takes_the_stop_furthest_from_the_entry() -> None:
    plan = long_plan(stop_mode="wider")
    assert (plan.stop, plan.stop_basis) == (D("10.20"), "premarket")


def test_target_sits_at_the_configured_r_multiple() -> None:
    plan = long_plan(target_r=3.0)
    assert plan.target == plan.entry + 3 * plan.risk_per_share


def test_time_stop_follows_the_range_end_and_flatten_precedes_the_close() -> None:
    plan = long_plan(time_stop_minutes=60, flatten_minutes_before_close=10)
    assert plan.time_stop_at == SESSION.open + timedelta(minutes=65)
    assert plan.flatten_at == SESSION.close - timedelta(minutes=10)


def test_time_stop_never_passes_the_flatten_time_on_an_early_close() -> None:
    half_day = Session(DAY, SESSION.open, datetime(2026, 3, 10, 13, 0, tzinfo=NY))
    plan = plan_trade(candidate(), range_bars(), PlanRules(time_stop_minutes=600), half_day)
    assert plan is not None
    assert plan.time_stop_at == plan.flatten_at == datetime(2026, 3, 10, 12, 55, tzinfo=NY)


def test_no_plan_when_the_session_ends_before_the_range_does() -> None:
    short = Session(DAY, SESSION.open, SESSION.open + timedelta(minutes=8))
    assert plan_trade(candidate(), range_bars(), PlanRules(), short) is None


def test_gap_down_plans_a_short_below_the_range_low() -> None:
    down = candidate(last="9.00", high="9.60", low="8.90", atr="0.40")
    plan = plan_trade(down, range_bars("9.20", "8.80"), PlanRules(), SESSION)
    assert plan is not None
    assert plan.side is Side.SHORT
    assert plan.entry == D("8.79")
    # stop levels above entry: range high 9.20, pre-market high 9.60, ATR 8.79 + 0.40 = 9.19
    assert (plan.stop, plan.stop_basis) == (D("9.19"), "atr")
    assert plan.target == D("8.79") - 2 * D("0.40")


def test_wider_short_stop_is_the_highest_level() -> None:
    down = candidate(last="9.00", high="9.60", low="8.90", atr="0.40")
    plan = plan_trade(down, range_bars("9.20", "8.80"), PlanRules(stop_mode="wider"), SESSION)
    assert plan is not None and plan.stop == D("9.60")


def test_levels_on_the_wrong_side_of_the_entry_are_ignored() -> None:
    # The stock faded below its pre-market low: that level is above a long entry.
    faded = candidate(last="10.80", high="11.00", low="10.60", atr="0.01")
    plan = plan_trade(faded, range_bars("10.50", "10.30"), PlanRules(stop_mode="wider"), SESSION)
    assert plan is not None
    assert plan.stop_basis == "opening_range"


def test_no_plan_when_no_stop_level_is_usable() -> None:
    # Range low 0 (no level), pre-market low above the entry, zero ATR (stop == entry).
    odd = candidate(last="10.80", high="11.00", low="11.00", atr="0")
    assert plan_trade(odd, range_bars("0.50", "0"), PlanRules(), SESSION) is None


def test_no_plan_when_the_stop_rounds_onto_the_entry() -> None:
    tiny = candidate(atr="0.00001")  # ATR stop 11.20999 is tightest and rounds to 11.21
    assert plan_trade(tiny, range_bars(), PlanRules(), SESSION) is None


def test_no_plan_when_the_short_target_would_be_below_zero() -> None:
    down = candidate(last="2.00", prev_close="2.50", high="2.20", low="1.90", atr="3.00")
    plan = plan_trade(down, range_bars("2.10", "1.50"), PlanRules(target_r=5.0), SESSION)
    assert plan is None


@pytest.mark.parametrize("mode", ["tighter", "wider"])
def test_every_plan_has_stop_and_target_on_opposite_sides(mode: str) -> None:
    plan = long_plan(stop_mode=mode)
    assert plan.stop < plan.entry < plan.target

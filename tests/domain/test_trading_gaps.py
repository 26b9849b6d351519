"""Gap scan and scoring."""

from datetime import timedelta

import pytest

from finagent.domain.gaps import ScanRules, attach_catalysts, candidate_from, scan
from finagent.domain.market import Direction, Headline
from finagent.domain.scoring import CATALYST_KEYWORDS, ScoreWeights, catalyst_strength, rank, score
from tests.domain.trading_helpers import PREMARKET, D, candidate, snap

RULES = ScanRules()


def test_a_four_percent_gap_on_volume_is_a_candidate() -> None:
    found = candidate_from(snap(last="10.40"), RULES)
    assert found is not None
    assert found.gap_pct == D("4.00")
    assert found.direction is Direction.UP
    assert found.relative_volume == 5
    assert (found.symbol, found.price, found.premarket_volume, found.atr) == (
        "ABC",
        D("10.40"),
        500_000,
        D("0.50"),
    )


def test_a_gap_down_is_a_candidate_with_direction_down() -> None:
    found = candidate_from(snap(last="9.00", high="9.50", low="8.90"), RULES)
    assert found is not None and found.direction is Direction.DOWN


@pytest.mark.parametrize(
    "kwargs",
    [
        {"last": "10.39"},  # gap 3.9 %
        {"last": "1.90", "prev_close": "1.50"},  # under $2
        {"last": "250.00", "prev_close": "200.00"},  # over $200
        {"volume": 99_999},  # thin pre-market
        {"typical": 400_000},  # rvol 1.25
        {"typical": 0},  # no history: rvol 0
        {"prev_close": "0"},  # no previous close
    ],
)
def test_snapshots_failing_a_rule_are_not_candidates(kwargs: dict[str, object]) -> None:
    assert candidate_from(snap(**kwargs), RULES) is None  # type: ignore[arg-type]


def test_scan_orders_by_absolute_gap_then_symbol() -> None:
    snaps = [
        snap("AAA", last="10.50"),
        snap("BBB", last="8.00", high="8.2", low="7.9"),
        snap("CCC", last="10.10"),
        snap("ZZZ", last="10.50"),
    ]
    assert [c.symbol for c in scan(snaps, RULES)] == ["BBB", "AAA", "ZZZ"]


def test_thresholds_come_from_the_rules() -> None:
    loose = ScanRules(min_gap_pct=1.0, min_relative_volume=0.5)
    assert [c.symbol for c in scan([snap(last="10.10")], loose)] == ["ABC"]


def test_headlines_attach_to_the_symbols_they_name_oldest_first() -> None:
    early = Headline("1", PREMARKET - timedelta(hours=2), ("ABC", "XYZ"), "ABC earnings beat")
    late = Headline("2", PREMARKET - timedelta(hours=1), ("ABC",), "ABC raises guidance")
    other = Headline("3", PREMARKET, ("QQQ",), "QQQ news")
    found = attach_catalysts(scan([snap(), snap("NEW")], RULES), [late, other, early])
    by_symbol = {c.symbol: c.catalysts for c in found}
    assert by_symbol == {"ABC": (early, late), "NEW": ()}


def test_score_keeps_explainable_components_that_sum_to_the_total() -> None:
    scored = score(candidate(("ABC wins FDA approval",)), ScoreWeights())
    names = [c.name for c in scored.components]
    assert names == ["gap", "rvol", "volume", "catalyst", "strength"]
    assert scored.score == pytest.approx(sum(c.points for c in scored.components))
    by_name = {c.name: c for c in scored.components}
    assert by_name["gap"].points == pytest.approx(12.0)  # 8 % of a 20 % cap x 30
    assert by_name["rvol"].points == pytest.approx(12.5)  # 5x of a 10x cap x 25
    assert by_name["volume"].points == pytest.approx(3.75)  # 0.5 M of 2 M x 15
    assert by_name["catalyst"].points == pytest.approx(20.0)
    assert by_name["strength"].points == pytest.approx(7.5)  # 10.80 in [10.20, 11.00]
    assert scored.explain().endswith(f"total={scored.score:.1f}")
    assert scored.symbol == "ABC"


def test_the_same_candidate_always_scores_the_same() -> None:
    assert score(candidate(), ScoreWeights()) == score(candidate(), ScoreWeights())


def test_a_catalyst_keyword_lifts_the_score() -> None:
    plain = score(candidate(("ABC to present at a conference",)), ScoreWeights())
    news = score(candidate(("ABC reports Earnings",)), ScoreWeights())
    assert news.score - plain.score == pytest.approx(CATALYST_KEYWORDS["earnings"] * 20)


def test_catalyst_strength_takes_the_strongest_keyword() -> None:
    items = candidate(("ABC offering priced", "Merger agreed")).catalysts
    assert catalyst_strength(items, CATALYST_KEYWORDS) == 1.0
    assert catalyst_strength((), CATALYST_KEYWORDS) == 0.0


def test_a_gap_down_is_strong_when_it_trades_near_its_low() -> None:
    weak = candidate(last="9.00", high="9.50", low="8.50")
    strong = candidate(last="8.55", high="9.50", low="8.50")
    strength = {c.symbol: score(c, ScoreWeights()).components[-1].level for c in (weak,)}
    assert strength["ABC"] == pytest.approx(0.5)
    assert score(strong, ScoreWeights()).components[-1].level == pytest.approx(0.95 / 1.0, abs=0.01)


def test_a_flat_premarket_range_counts_as_neutral_strength() -> None:
    flat = candidate(last="10.80", high="10.80", low="10.80")
    assert score(flat, ScoreWeights()).components[-1].level == 0.5


def test_a_zero_cap_switches_a_component_off() -> None:
    scored = score(candidate(), ScoreWeights(gap_cap_pct=0))
    assert scored.components[0].points == 0


def test_rank_keeps_the_best_n_by_score_then_gap_then_symbol() -> None:
    a = candidate(symbol="AAA")
    b = candidate(("FDA nod",), symbol="BBB")
    c = candidate(symbol="CCC", last="11.50", high="11.60")
    ranked = rank([a, b, c], ScoreWeights(), limit=2)
    assert [s.symbol for s in ranked] == ["BBB", "CCC"]
    assert rank([a], ScoreWeights(), limit=0) == []
    tie = rank([candidate(symbol="ZZZ"), a], ScoreWeights(), limit=5)
    assert [s.symbol for s in tie] == ["AAA", "ZZZ"]

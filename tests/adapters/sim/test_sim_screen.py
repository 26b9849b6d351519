"""SimMarket.screen: exactly the snapshots that pass the scan rules, without building the rest."""

import random
from datetime import date, datetime, time, timedelta
from itertools import product
from zoneinfo import ZoneInfo

import pytest

from finagent.adapters.sim.market import SimMarket
from finagent.adapters.sim.model import Profile, columns, draw_day, may_pass, snapshot
from finagent.domain.gaps import ScanRules, passing, scan
from finagent.ports.market import Screener

NY = ZoneInfo("America/New_York")
DAY = date(2025, 1, 6)


def _rules(rng: random.Random) -> ScanRules:
    """Thresholds around the usual ones, loose and strict, to probe every test's margin."""
    return ScanRules(
        min_gap_pct=rng.choice([0.0, 0.5, 2.0, 3.7, 4.0, 10.0, 25.0, 150.0]),
        min_price=rng.choice([0.0, 0.3, 1.0, 2.0, 5.55]),
        max_price=rng.choice([1.0, 20.0, 200.0, 10_000.0]),
        min_premarket_volume=rng.choice([0, 1, 5_000, 100_000, 2_000_000]),
        min_relative_volume=rng.choice([0.0, 0.7, 2.0, 3.3, 8.0]),
    )


async def test_the_sim_is_a_screener_and_screens_exactly_like_the_full_scan() -> None:
    rng = random.Random(7)
    for trial in range(24):
        seed = rng.randrange(1000)
        market = SimMarket(symbols=3000, seed=seed)
        names = await market.universe(DAY)
        day = DAY + timedelta(days=rng.randrange(60))
        at = datetime.combine(day, time(rng.randrange(4, 17), rng.randrange(60)), NY)
        rules = _rules(rng) if trial else ScanRules()
        screened = await market.screen(names, at, rules)
        full = await SimMarket(symbols=3000, seed=seed).snapshots(names, at)
        assert isinstance(market, Screener)
        assert list(screened) == passing(full, rules), (seed, at, rules)
        assert scan(screened, rules) == scan(full, rules)


async def test_the_default_rules_find_movers_and_build_few_snapshots() -> None:
    market = SimMarket(symbols=10_000, seed=42)
    names = await market.universe(DAY)
    at = datetime(2025, 1, 6, 9, 0, tzinfo=NY)
    screened = await market.screen(names, at, ScanRules())
    assert 20 <= len(screened) <= 400
    built = len(market._snaps[(at, at.tzinfo)])
    assert built < 2 * len(screened)  # the cheap pass keeps few that then fail
    assert await market.screen(names, at, ScanRules()) is screened  # cached per instant


async def test_a_subset_unknown_symbols_and_an_instant_before_the_premarket() -> None:
    market = SimMarket(symbols=2000, seed=3)
    names = list(await market.universe(DAY))
    at = datetime(2025, 1, 6, 8, 0, tzinfo=NY)
    loose = ScanRules(min_gap_pct=1.0, min_premarket_volume=0, min_relative_volume=0.0)
    subset = ["NOT-LISTED", *names[::3]]
    screened = await market.screen(subset, at, loose)
    assert list(screened) == passing(await market.snapshots(names[::3], at), loose)
    assert screened and all(s.symbol in names[::3] for s in screened)
    early = datetime(2025, 1, 6, 3, 0, tzinfo=NY)
    zero = ScanRules(0.0, 0.0, 1e9, 0, 0.0)
    assert len(await market.screen(names, early, zero)) == len(names)  # no move, no volume
    assert await market.screen(names, early, ScanRules()) == ()
    for _ in range(6):  # the cache stays bounded
        at += timedelta(minutes=1)
        await market.screen(names[:10], at, loose)
    assert len(market._screens) <= 4


@pytest.mark.parametrize("frac", [0.01, 0.5, 1.0])
def test_the_cheap_pass_keeps_every_symbol_that_passes_at_the_edges_of_each_rule(
    frac: float,
) -> None:
    """Price levels on rounding edges and thin volumes: nothing that passes may be dropped."""
    levels = [0.5, 0.9999, 1.0, 1.005, 1.995, 2.0, 2.005, 199.995, 200.0, 200.004, 3.0, 25.0]
    profiles = {
        f"S{i}": Profile(level, 700.0 * (i % 7 + 1) ** 3, 0.01 + 0.01 * (i % 5))
        for i, level in enumerate(levels)
    }
    cols = columns(["GONE", *profiles], profiles)
    assert cols.names == tuple(profiles)
    assert may_pass(columns([], profiles), "1:", frac, ScanRules()) == []
    at = datetime(2025, 1, 6, 9, tzinfo=NY)
    rng, dropped, passed = random.Random(11), 0, 0
    for seed in range(300):
        prefix = f"{seed}:2025-01-06:"
        snaps = [snapshot(s, draw_day(s, p, prefix), at, frac) for s, p in profiles.items()]
        for rules in [_rules(rng) for _ in range(4)]:
            kept = may_pass(cols, prefix, frac, rules)
            assert kept == [s for s in cols.names if s in kept]  # in the given order
            passes = {s.symbol for s in passing(snaps, rules)}
            assert passes <= set(kept), (seed, rules)
            dropped, passed = dropped + len(profiles) - len(kept), passed + len(passes)
    assert dropped > 0 and passed > 0


@pytest.mark.parametrize("day", [date(2026, 3, 9), date(2025, 11, 3), date(2025, 1, 6)])
async def test_headlines_of_a_narrow_window_are_the_wide_windows_cut(day: date) -> None:
    """Days whose news cannot fall in the window are skipped: nothing may be lost (DST too)."""
    market = SimMarket(symbols=3000, seed=5)
    names = await market.universe(day)
    wide_start = datetime.combine(day - timedelta(days=4), time(0), NY)
    wide = await market.headlines(names, wide_start, wide_start + timedelta(days=8))
    assert wide
    edges = [(0, 0), (8, 25), (8, 29), (8, 30), (9, 0), (15, 59), (16, 0), (16, 1), (20, 0)]
    for days, (hour, minute) in product(range(1, 5), edges):
        start = datetime.combine(wide_start.date() + timedelta(days=days), time(hour, minute), NY)
        for span in (timedelta(minutes=1), timedelta(minutes=30), timedelta(hours=24)):
            got = await market.headlines(names, start, start + span)
            assert list(got) == [h for h in wide if start <= h.at < start + span]

"""SimMarket: deterministic, realistic enough to trade, lazy, and never ahead of "now"."""

import hashlib
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from statistics import mean
from zoneinfo import ZoneInfo

from finagent.adapters.sim.market import SimMarket, regular_session
from finagent.domain.gaps import ScanRules, scan
from finagent.domain.market import Session

NY = ZoneInfo("America/New_York")
DAY = date(2026, 3, 10)
AT = datetime(2026, 3, 10, 9, 0, tzinfo=NY)
OPEN = datetime(2026, 3, 10, 9, 30, tzinfo=NY)
CLOSE = datetime(2026, 3, 10, 16, 0, tzinfo=NY)
GOLDEN = "988555b8aaaa5961e56621106d2b4f2355861b4db45f7f25a3c3010f738caf17"


async def test_the_universe_has_n_distinct_uppercase_symbols_and_grows_by_extension() -> None:
    small = await SimMarket(symbols=500, seed=7).universe(DAY)
    big = await SimMarket(symbols=1000, seed=7).universe(DAY)
    assert len(small) == len(set(small)) == 500
    assert all(s.isalpha() and s.isupper() and 1 <= len(s) <= 5 for s in small)
    assert list(small) == sorted(small)
    assert set(small) <= set(big)


async def test_the_same_seed_and_date_give_the_same_snapshots_in_any_subset() -> None:
    a, b = SimMarket(symbols=300, seed=1), SimMarket(symbols=300, seed=1)
    names = list(await a.universe(DAY))
    full = await a.snapshots(names, AT)
    alone = await b.snapshots([names[17]], AT)
    assert alone == [full[17]]
    other = await SimMarket(symbols=300, seed=2).snapshots(names, AT)
    assert [s.last for s in other] != [s.last for s in full]


def test_values_do_not_depend_on_the_process_hash_seed() -> None:
    code = (
        "import trio; from datetime import datetime; from zoneinfo import ZoneInfo;"
        "from finagent.adapters.sim.market import SimMarket;"
        "m = SimMarket(symbols=50, seed=3);"
        "at = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo('America/New_York'));"
        "names = trio.run(m.universe, at.date());"
        "print(trio.run(lambda: m.snapshots(['ZZZZZ', *names], at))[5].last)"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True,
            text=True, check=True,
        ).stdout
        for seed in ("1", "2")
    }  # fmt: skip
    assert len(outputs) == 1 and outputs.pop().strip()


async def test_a_few_percent_gap_four_percent_and_most_big_gappers_have_news() -> None:
    market = SimMarket(symbols=5000, seed=42)
    names = await market.universe(DAY)
    snaps = await market.snapshots(names, AT)
    big = [s for s in snaps if abs(s.gap_pct) >= 4]
    assert 0.01 * len(snaps) <= len(big) <= 0.08 * len(snaps)
    assert 5 <= len(scan(snaps, ScanRules())) <= 200
    news = await market.headlines([s.symbol for s in big], AT - timedelta(hours=17), AT)
    assert len({h.symbols[0] for h in news}) >= 0.7 * len(big)
    small = [s for s in snaps if abs(s.gap_pct) < 1]
    assert mean(float(s.relative_volume) for s in big) > 2 * mean(
        float(s.relative_volume) for s in small
    )
    assert all(s.premarket_low <= s.last <= s.premarket_high and s.at == AT for s in snaps)


async def test_before_the_premarket_there_is_no_volume_and_no_gap() -> None:
    market = SimMarket(symbols=50, seed=42)
    early = datetime(2026, 3, 10, 3, 0, tzinfo=NY)
    for s in await market.snapshots(await market.universe(DAY), early):
        assert s.premarket_volume == 0 and s.last == s.prev_close


async def test_unknown_symbols_are_skipped() -> None:
    market = SimMarket(symbols=50, seed=42)
    assert await market.snapshots(["NOT-A-SYMBOL"], AT) == []
    assert await market.minute_bars("NOT-A-SYMBOL", OPEN, CLOSE) == []
    assert await market.headlines(["NOT-A-SYMBOL"], AT - timedelta(days=1), AT) == []
    assert await market.last_prices(["NOT-A-SYMBOL"], AT) == {}


async def test_a_regular_session_has_390_sane_bars_with_a_u_shaped_volume() -> None:
    market = SimMarket(symbols=50, seed=42)
    symbol = (await market.universe(DAY))[3]
    bars = await market.minute_bars(symbol, OPEN, CLOSE)
    assert len(bars) == 390
    assert bars[0].start == OPEN and bars[-1].end == CLOSE
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)
    assert all(a.close == b.open for a, b in pairwise(bars))
    edges = mean(b.volume for b in bars[:20] + bars[-20:])
    assert edges > 1.5 * mean(b.volume for b in bars[150:240])
    snap = (await market.snapshots([symbol], OPEN))[0]
    assert abs(bars[0].open - snap.last) <= Decimal("0.01")


async def test_bars_stop_at_end_and_never_show_an_incomplete_minute() -> None:
    market = SimMarket(symbols=50, seed=42)
    symbol = (await market.universe(DAY))[0]
    end = OPEN + timedelta(minutes=10, seconds=30)
    bars = await market.minute_bars(symbol, OPEN, end)
    assert len(bars) == 10 and bars[-1].end <= end
    assert await market.minute_bars(symbol, end, OPEN) == []
    full = await market.minute_bars(symbol, OPEN, CLOSE)
    assert bars == full[:10]


async def test_an_early_close_ends_the_bars_at_the_given_close() -> None:
    def half_days(day: date) -> Session | None:
        regular = regular_session(day)
        assert regular is not None
        return Session(day, regular.open, datetime.combine(day, time(13, 0), NY))

    market = SimMarket(symbols=50, seed=42, session_for=half_days)
    symbol = (await market.universe(DAY))[0]
    bars = await market.minute_bars(symbol, OPEN, CLOSE)
    assert len(bars) == 210 and bars[-1].end == datetime(2026, 3, 10, 13, 0, tzinfo=NY)


async def test_weekends_have_no_session_bars_or_news() -> None:
    market = SimMarket(symbols=50, seed=42)
    symbol = (await market.universe(DAY))[0]
    saturday = datetime(2026, 3, 14, 9, 30, tzinfo=NY)
    assert regular_session(saturday.date()) is None
    assert await market.minute_bars(symbol, saturday, saturday + timedelta(hours=6)) == []
    assert (await market.last_prices([symbol], saturday))[symbol] > 0


async def test_last_price_is_the_premarket_last_then_the_latest_complete_bar() -> None:
    market = SimMarket(symbols=50, seed=42)
    symbol = (await market.universe(DAY))[0]
    before = await market.last_prices([symbol], AT)
    assert before[symbol] == (await market.snapshots([symbol], AT))[0].last
    noon = datetime(2026, 3, 10, 12, 0, 30, tzinfo=NY)
    bars = await market.minute_bars(symbol, OPEN, noon)
    assert (await market.last_prices([symbol], noon))[symbol] == bars[-1].close


async def test_bars_and_daily_draws_are_cached_within_bounds() -> None:
    market = SimMarket(symbols=50, seed=42, bar_cache=2)
    names = await market.universe(DAY)
    first = await market.minute_bars(names[0], OPEN, CLOSE)
    assert await market.minute_bars(names[0], OPEN, CLOSE) == first
    for name in names[1:4]:
        await market.minute_bars(name, OPEN, CLOSE)
    assert len(market._bars) == 2
    assert await market.minute_bars(names[0], OPEN, CLOSE) == first
    for day in range(12):
        await market.snapshots(names[:1], AT + timedelta(days=day))
    assert len(market._days) <= 9


async def test_headlines_respect_the_window_and_come_oldest_first() -> None:
    market = SimMarket(symbols=2000, seed=42)
    names = await market.universe(DAY)
    start, end = AT - timedelta(hours=17), AT
    news = await market.headlines(names, start, end)
    assert news and all(start <= h.at < end for h in news)
    assert [h.at for h in news] == sorted(h.at for h in news)
    narrow = await market.headlines(names, start, start + timedelta(hours=1))
    assert len(narrow) < len(news)
    weekend = datetime(2026, 3, 14, 9, 0, tzinfo=NY)
    assert await market.headlines(names, weekend, weekend + timedelta(hours=20)) == []


async def test_golden_values_stay_exactly_the_same() -> None:
    """Seed 42 fingerprint (2,000 symbols): optimisations must not change one generated value."""
    market = SimMarket(symbols=2000, seed=42)
    names = list(await market.universe(date(2025, 1, 6)))
    digest = hashlib.sha256(repr(names).encode())
    for hour in (3, 9, 11):
        at = datetime(2025, 1, 6, hour, tzinfo=NY)
        digest.update(repr(list(await market.snapshots(names, at))).encode())
    open_, close = datetime(2025, 1, 6, 9, 30, tzinfo=NY), datetime(2025, 1, 7, 16, tzinfo=NY)
    for symbol in names[::250]:
        digest.update(repr(list(await market.minute_bars(symbol, open_, close))).encode())
        prices = await market.last_prices([symbol], datetime(2025, 1, 6, 10, 7, tzinfo=NY))
        digest.update(repr(dict(prices)).encode())
    news = await market.headlines(names, datetime(2025, 1, 3, 16, tzinfo=NY), close)
    digest.update(repr(list(news)).encode())
    assert digest.hexdigest() == GOLDEN


async def test_bars_drawn_a_prefix_at_a_time_equal_the_whole_day_at_once() -> None:
    names = await SimMarket(symbols=50, seed=9).universe(DAY)
    stepwise, whole = SimMarket(symbols=50, seed=9), SimMarket(symbols=50, seed=9)
    early = await stepwise.minute_bars(names[3], OPEN, OPEN + timedelta(minutes=15))
    assert len(early) == 15
    assert await stepwise.minute_bars(names[3], OPEN - timedelta(hours=9), OPEN) == []
    full = await whole.minute_bars(names[3], OPEN, CLOSE)
    assert await stepwise.minute_bars(names[3], OPEN, CLOSE) == full
    assert full[:15] == early


async def test_snapshot_and_session_caches_stay_bounded_and_keep_the_asked_time_zone() -> None:
    asked: list[date] = []

    def session_for(day: date) -> Session | None:
        asked.append(day)
        return regular_session(day)

    market = SimMarket(symbols=50, seed=42, session_for=session_for)
    names = list(await market.universe(DAY))
    for minute in range(6):
        await market.snapshots(names, AT + timedelta(minutes=minute))
    assert len(market._snaps) <= 4
    assert asked == [DAY]
    utc = AT.astimezone(ZoneInfo("UTC"))
    (ny_snap,) = await market.snapshots(names[:1], AT)
    (utc_snap,) = await market.snapshots(names[:1], utc)
    assert ny_snap == utc_snap and utc_snap.at.tzinfo == ZoneInfo("UTC")
    for day in range(70):
        await market.snapshots(names[:1], AT + timedelta(days=day))
    assert len(market._sessions) <= 65 and len(asked) == 70


async def test_a_new_session_drops_the_older_sessions_bar_streams() -> None:
    market = SimMarket(symbols=50, seed=42)
    names = await market.universe(DAY)
    first = await market.minute_bars(names[0], OPEN, CLOSE)
    nxt = timedelta(days=1)  # Wednesday
    await market.minute_bars(names[1], OPEN + nxt, CLOSE + nxt)
    assert [day for _, day in market._bars] == [DAY + nxt]  # a daemon's memory stays flat
    assert await market.minute_bars(names[0], OPEN, CLOSE) == first  # drawn again, the same

"""The replay store and feed: exact prices, data gaps named, screens, headlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from finagent.adapters.replay.market import ReplayMarket
from finagent.adapters.replay.store import (
    DailyRow,
    ReplayDataGap,
    ReplayStoreError,
    from_price,
    open_store,
    to_price,
)
from finagent.app.exchange import exchange_calendar
from finagent.app.parts import sim_session_for
from finagent.domain.gaps import ScanRules
from finagent.domain.market import Bar, Headline

DAY = date(2025, 1, 7)
AT = datetime(2025, 1, 7, 14, 0, tzinfo=UTC)  # 09:00 ET


@pytest.mark.parametrize(
    ("text", "stored"), [("12.34", 123400), ("0.5123", 5123), ("0.5000", 5000), ("1.2345", 12345)]
)
def test_prices_round_trip_exactly_and_canonically(text: str, stored: int) -> None:
    assert to_price(Decimal(text)) == stored
    assert str(from_price(stored)) == text


def test_more_than_four_decimals_is_refused() -> None:
    with pytest.raises(ValueError, match="more than 4 decimals"):
        to_price(Decimal("1.00001"))


def test_a_missing_store_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayDataGap, match="does not exist"):
        open_store(tmp_path / "none.db")


@pytest.mark.parametrize("create", [False, True])
def test_a_folder_or_a_foreign_file_is_one_line_and_left_alone(
    tmp_path: Path, create: bool
) -> None:
    with pytest.raises(ReplayStoreError, match="is a folder, not a store file"):
        open_store(tmp_path, create=create)
    foreign = tmp_path / "notes.db"
    foreign.write_bytes(b"not a database, " * 256)
    with pytest.raises(ReplayStoreError, match=r"notes.db: not a usable store \(file is not"):
        open_store(foreign, create=create)
    assert foreign.read_bytes() == b"not a database, " * 256
    blocked = tmp_path / "notes.db" / "store.db"  # its parent is a file: cannot be made
    with pytest.raises(ReplayStoreError, match="cannot open it"):
        open_store(blocked, create=True)


@pytest.fixture
def market(tmp_path: Path) -> ReplayMarket:
    store = open_store(tmp_path / "m.db", create=True)
    px = Decimal("10.00")
    store.write(
        daily=[
            DailyRow(DAY, "GAP", px, px, px, px, 0, Decimal("9.00"), None, 1_000_000.0),
            DailyRow(DAY, "FLAT", px, px, px, px, 0, px, Decimal("0.50"), None),
        ],
        bars=[Bar("GAP", datetime(2025, 1, 7, 13, 0, tzinfo=UTC), px, px, px, px, 500)],
        news=[
            Headline("n1", datetime(2025, 1, 7, 12, tzinfo=UTC), ("GAP",), "GAP wins", "test"),
            Headline("n2", datetime(2025, 1, 7, 12, tzinfo=UTC), ("FLAT",), "FLAT", "test"),
        ],
        coverage=[(DAY, "GAP", "minute")],
    )
    return ReplayMarket(store, sim_session_for(exchange_calendar("XNYS")))


async def test_snapshots_screen_and_news(market: ReplayMarket) -> None:
    assert await market.universe(DAY) == ("FLAT", "GAP")
    gap, flat = await market.snapshots(["GAP", "FLAT"], AT)
    assert (gap.last, gap.prev_close, gap.premarket_volume, gap.atr) == (
        Decimal("10.00"), Decimal("9.00"), 500, Decimal(0),
    )  # fmt: skip
    assert gap.typical_premarket_volume == int(1_000_000.0 * 0.03 * (5 / 5.5))
    assert (flat.last, flat.premarket_volume, flat.typical_premarket_volume) == (
        Decimal("10.00"), 0, 0,
    )  # fmt: skip
    loose = ScanRules(0, 0, 1000, 0, 0, 10)
    assert [s.symbol for s in await market.screen(["FLAT", "GAP"], AT, loose)] == ["FLAT", "GAP"]
    strict = ScanRules(4, 0, 1000, 0, 0, 10)
    assert [s.symbol for s in await market.screen(["FLAT", "GAP"], AT, strict)] == ["GAP"]
    news = await market.headlines(["GAP"], datetime(2025, 1, 7, tzinfo=UTC), AT)
    assert [h.id for h in news] == ["n1"]
    assert await market.last_prices(["FLAT", "NONE"], AT) == {"FLAT": Decimal("10.00")}


async def test_a_never_recorded_symbol_day_is_a_named_gap(market: ReplayMarket) -> None:
    with pytest.raises(ReplayDataGap, match=r"FLAT on 2025-01-07: no minute bars .* 09:00-09:05"):
        await market.minute_bars("FLAT", AT, datetime(2025, 1, 7, 14, 5, tzinfo=UTC))
    assert len(market.gaps) == 1
    # a weekend inside the window is no session: nothing asked of it
    weekend = datetime(2025, 1, 4, 14, tzinfo=UTC)
    assert await market.minute_bars("GAP", weekend, datetime(2025, 1, 5, 14, tzinfo=UTC)) == []


async def test_caches_stay_bounded(market: ReplayMarket) -> None:
    for day in range(1, 8):  # more days than the daily cache keeps
        await market.universe(date(2025, 1, day))
    assert len(market._daily) <= 5
    market._bars.update({(f"S{i}", DAY): ([], []) for i in range(257)})
    await market.minute_bars("GAP", AT, AT)
    assert len(market._bars) == 1


async def test_before_the_first_recorded_bar_a_snapshot_is_the_previous_close(
    market: ReplayMarket,
) -> None:
    early = datetime(2025, 1, 7, 12, 30, tzinfo=UTC)  # 07:30 ET; GAP's one bar is at 08:00
    (gap,) = await market.snapshots(["GAP"], early)
    assert (gap.last, gap.premarket_high, gap.premarket_low, gap.premarket_volume) == (
        Decimal("9.00"), Decimal("9.00"), Decimal("9.00"), 0,
    )  # fmt: skip


def test_the_sql_summary_is_the_decoded_bars_aggregate(tmp_path: Path) -> None:
    """What a snapshot reads in SQL equals what the decoded bars give, to the Decimal."""
    store = open_store(tmp_path / "s.db", create=True)
    start = datetime(2025, 1, 7, 9, 0, tzinfo=UTC)
    prices = ["10.10", "10.3", "9.95", "10.0000", "1.2345", "12", "10.25"]
    bars = [
        Bar("S", start + timedelta(minutes=i), Decimal(p), Decimal(p) + 1, Decimal(p) - 1,
            Decimal(p), 100 + i)
        for i, p in enumerate(prices)
    ]  # fmt: skip
    store.write(bars=bars)
    for end_minute in range(len(prices) + 1):
        end = start + timedelta(minutes=end_minute)
        decoded = store.bars("S", start, end)
        expected = (
            (decoded[-1].close, max(b.high for b in decoded), min(b.low for b in decoded),
             sum(b.volume for b in decoded))
            if decoded else None
        )  # fmt: skip
        found = store.summary("S", start, end)
        assert found == expected
        assert found is None or [str(v) for v in found] == [str(v) for v in expected or ()]
    store.close()

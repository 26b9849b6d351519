"""scan_at: a Screener feed and a plain MarketData feed find the same candidates."""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

from finagent.adapters.sim.market import SimMarket
from finagent.domain.gaps import ScanRules, attach_catalysts, scan
from finagent.domain.market import Headline, Snapshot
from finagent.ports.market import Screener
from finagent.services.scanner import OFFLOAD_OVER, scan_at
from tests.fakes import FakeMarket

NY = ZoneInfo("America/New_York")
AT = datetime(2025, 1, 6, 9, 0, tzinfo=NY)
T = TypeVar("T")


async def test_a_plain_feed_is_scanned_from_every_snapshot() -> None:
    market = FakeMarket(["GAP", "FLAT", "NONE"])
    px = Decimal("10.80")
    market.snapshot_by_symbol["GAP"] = Snapshot(
        "GAP", AT, px, Decimal(10), px, Decimal(10), 500_000, 100_000, Decimal(1)
    )
    market.snapshot_by_symbol["FLAT"] = Snapshot(
        "FLAT", AT, Decimal(10), Decimal(10), px, Decimal(10), 500_000, 100_000, Decimal(1)
    )
    market.news.append(Headline("n1", AT - timedelta(hours=2), ("GAP",), "GAP earnings beat"))
    assert not isinstance(market, Screener)
    (found,) = await scan_at(market, market, ScanRules(), AT)
    assert found.symbol == "GAP" and [h.id for h in found.catalysts] == ["n1"]
    assert ("snapshots", (("GAP", "FLAT", "NONE"), AT)) in market.calls
    assert await scan_at(FakeMarket(["X"]), market, ScanRules(), AT) == []


async def test_a_screener_feed_finds_what_the_full_scan_finds() -> None:
    market = SimMarket(symbols=4000, seed=42)
    names = await market.universe(date(2025, 1, 6))
    rules = ScanRules()
    found = await scan_at(market, market, rules, AT)
    everything = scan(await SimMarket(symbols=4000, seed=42).snapshots(names, AT), rules)
    news = await market.headlines([c.symbol for c in everything], AT - timedelta(hours=24), AT)
    assert found == attach_catalysts(everything, news)
    assert len(found) >= 5 and any(c.catalysts for c in found)
    assert len(market._snaps[(AT, AT.tzinfo)]) < len(names) // 10  # only candidates were built


async def test_a_scan_over_many_snapshots_runs_through_the_offload() -> None:
    names = [f"S{i}" for i in range(OFFLOAD_OVER + 1)]
    market = FakeMarket(names)
    flat, px = Decimal(10), Decimal("10.80")
    for name in names:
        last = px if name == "S7" else flat
        market.snapshot_by_symbol[name] = Snapshot(
            name, AT, last, flat, last, flat, 500_000, 100_000, Decimal(1)
        )
    ran: list[object] = []

    async def offload(fn: Callable[[], T]) -> T:
        ran.append(fn)
        return fn()

    found = await scan_at(market, market, ScanRules(), AT, offload)
    assert [c.symbol for c in found] == ["S7"] and len(ran) == 1
    small = FakeMarket(names[:OFFLOAD_OVER])
    small.snapshot_by_symbol = market.snapshot_by_symbol
    assert await scan_at(small, small, ScanRules(), AT, offload) == found
    assert len(ran) == 1  # at the threshold the scan stays on the loop: no hop for small work

"""Offload adapters: the daemon's worker thread and the inline twin for virtual time."""

import threading
from datetime import date, datetime
from functools import partial
from zoneinfo import ZoneInfo

import pytest
import trio

from finagent.adapters.offload import InlineOffload, ThreadOffload
from finagent.adapters.sim.market import SimMarket
from finagent.domain.gaps import ScanRules
from finagent.ports.compute import Offload

NY = ZoneInfo("America/New_York")
DAY = date(2026, 3, 10)
AT = datetime(2026, 3, 10, 9, 0, tzinfo=NY)


async def test_thread_offload_runs_the_function_on_a_worker_thread() -> None:
    offload: Offload = ThreadOffload()  # both adapters fit the port
    assert await offload(threading.get_ident) != threading.get_ident()
    assert await offload(partial(sum, [1, 2, 3])) == 6


async def test_inline_offload_runs_the_function_on_the_trio_thread() -> None:
    inline: Offload = InlineOffload()
    assert await inline(threading.get_ident) == threading.get_ident()


async def test_the_function_s_exception_propagates() -> None:
    with pytest.raises(ZeroDivisionError):
        await ThreadOffload()(partial(divmod, 1, 0))


async def test_a_screen_on_a_worker_thread_equals_the_inline_screen() -> None:
    rules = ScanRules()
    threaded = SimMarket(symbols=2000, seed=42, offload=ThreadOffload(), offload_over=0)
    inline = SimMarket(symbols=2000, seed=42)
    names = await threaded.universe(DAY)
    assert names == await inline.universe(DAY)
    found = await threaded.screen(names, AT, rules)
    assert found and found == await inline.screen(names, AT, rules)


async def test_concurrent_first_calls_share_one_universe() -> None:
    market = SimMarket(symbols=300, seed=7, offload=ThreadOffload(threads=2))
    got: list[object] = []

    async def ask() -> None:
        got.append(await market.universe(DAY))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        nursery.start_soon(ask)
    assert got[0] == got[1] and len(got[0]) == 300  # type: ignore[arg-type]
    assert got[1] is await market.universe(DAY)  # the later build was dropped: one universe


async def test_a_small_screen_stays_on_the_loop() -> None:
    ran: list[object] = []

    async def offload(fn):  # type: ignore[no-untyped-def]
        ran.append(fn)
        return fn()

    market = SimMarket(symbols=300, seed=42, offload=offload, offload_over=300)
    names = await market.universe(DAY)
    assert len(ran) == 1  # the universe build
    await market.screen(names, AT, ScanRules())
    assert len(ran) == 1  # 300 symbols: no hop

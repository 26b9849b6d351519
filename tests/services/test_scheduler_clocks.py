"""Clock adapters under Trio's MockClock: virtual time drives both sleeps and 'now'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio

from finagent.adapters.clocks import SystemClock, VirtualClock

EPOCH = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


async def test_virtual_clock_starts_at_its_epoch_and_follows_trio_time(autojump_clock):
    clock = VirtualClock(EPOCH)
    assert clock.now() == EPOCH
    await trio.sleep(90)
    assert clock.now() == EPOCH + timedelta(seconds=90)
    assert clock.timestamp() == EPOCH.timestamp() + 90


async def test_virtual_clock_sleep_until_maps_to_a_trio_deadline(autojump_clock):
    clock = VirtualClock(EPOCH, speed=60.0)
    t0 = trio.current_time()
    await clock.sleep_until(EPOCH + timedelta(hours=1))
    assert trio.current_time() - t0 == pytest.approx(60.0)
    assert clock.now() == EPOCH + timedelta(hours=1)


async def test_virtual_clock_returns_at_once_for_a_past_instant(autojump_clock):
    clock = VirtualClock(EPOCH)
    t0 = trio.current_time()
    await clock.sleep_until(EPOCH - timedelta(days=1))
    assert trio.current_time() == t0


async def test_virtual_clock_with_explicit_t0(autojump_clock):
    clock = VirtualClock(EPOCH, t0=trio.current_time() - 10)
    assert clock.now() == EPOCH + timedelta(seconds=10)
    assert clock.trio_deadline(EPOCH) == pytest.approx(trio.current_time() - 10)


def test_virtual_clock_rejects_a_naive_epoch_and_a_bad_speed():
    with pytest.raises(ValueError, match="tz-aware"):
        VirtualClock(datetime(2026, 1, 1), t0=0.0)
    with pytest.raises(ValueError, match="speed must be > 0"):
        VirtualClock(EPOCH, speed=0, t0=0.0)


async def test_system_clock_sleeps_in_naps_until_the_wall_clock_arrives(autojump_clock):
    base = 1_800_000_000.0
    clock = SystemClock(time_fn=lambda: base + trio.current_time())
    t0 = trio.current_time()
    await clock.sleep_until(datetime.fromtimestamp(base + t0 + 150, UTC))
    assert trio.current_time() - t0 == pytest.approx(150)
    await clock.sleep_until(datetime.fromtimestamp(base, UTC))  # past: no sleep
    assert trio.current_time() - t0 == pytest.approx(150)


def test_system_clock_reads_the_real_time_in_utc():
    clock = SystemClock()
    now = clock.now()
    assert now.tzinfo is UTC
    assert abs(now.timestamp() - clock.timestamp()) < 5

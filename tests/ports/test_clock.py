"""SystemClock and VirtualClock satisfy the Clock port, statically and at run time."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest
import trio

from finagent.adapters.clocks import SystemClock, VirtualClock
from finagent.ports.clock import Clock

EPOCH = datetime(2025, 1, 6, 14, 30, tzinfo=UTC)
MEMBERS = ("now", "timestamp", "sleep_until")


@pytest.mark.parametrize("impl", [SystemClock, VirtualClock])
def test_each_clock_has_the_ports_members_with_the_same_signatures(impl: type) -> None:
    for name in MEMBERS:
        port, ours = getattr(Clock, name), getattr(impl, name)
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(port).parameters
        ), name
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(port), name


async def test_a_virtual_clock_used_as_a_clock(autojump_clock: trio.testing.MockClock) -> None:
    clock: Clock = VirtualClock(EPOCH, speed=60.0)
    assert clock.now() == EPOCH and clock.now().tzinfo is UTC
    assert clock.timestamp() == EPOCH.timestamp()
    await clock.sleep_until(EPOCH + timedelta(hours=1))  # one Trio minute at 60x
    assert clock.now() == EPOCH + timedelta(hours=1)
    await clock.sleep_until(EPOCH)  # passed: returns at once
    assert clock.now() == EPOCH + timedelta(hours=1)


async def test_the_system_clock_used_as_a_clock() -> None:
    ticks = iter([EPOCH.timestamp(), EPOCH.timestamp(), EPOCH.timestamp() + 5.0])
    clock: Clock = SystemClock(lambda: next(ticks))
    assert clock.now() == EPOCH
    assert clock.timestamp() == EPOCH.timestamp()
    await clock.sleep_until(EPOCH)  # the injected time already reads past it: no sleep

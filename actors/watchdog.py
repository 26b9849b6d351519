"""Event-loop watchdog: how late does a `trio.sleep(interval)` wake up?

A blocking call on the Trio thread (sync I/O, a long computation) delays every task. The lag the
watchdog measures is that delay, reported as `LoopLag` to the observer after every tick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from actors.events import LoopLag, Observer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from actors.actor import ActorContext

__all__ = ["run_watchdog", "watchdog_factory"]


async def run_watchdog(observer: Observer, interval: float = 1.0, name: str = "watchdog") -> None:
    """Forever: sleep `interval` seconds and report how late the wake-up was (`LoopLag`)."""
    if interval <= 0:
        raise ValueError("interval must be > 0")
    while True:
        asked = trio.current_time() + interval
        await trio.sleep_until(asked)
        observer.on_event(LoopLag(name, max(0.0, trio.current_time() - asked)))


def watchdog_factory(
    observer: Observer, interval: float = 1.0
) -> Callable[[ActorContext[object]], Awaitable[None]]:
    """The watchdog as a child actor: `ChildSpec("watchdog", watchdog_factory(obs), ...)`."""

    async def watchdog(ctx: ActorContext[object]) -> None:
        ctx.started()  # nothing to prepare: it measures from its first tick
        await ctx.background(run_watchdog, observer, interval, ctx.name)

    return watchdog

"""Heartbeat: a log line at a fixed interval, so an operator sees the daemon is alive."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from actors import ActorContext

__all__ = ["Heartbeat"]

log = logging.getLogger(__name__)


@final
class Heartbeat:
    """Owns nothing. Receives nothing. Logs ``heartbeat`` every interval. Restart: permanent."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self.beats = 0

    async def run(self, ctx: ActorContext[object]) -> None:
        """Beat once at start, then every interval, until asked to stop."""
        started = trio.current_time()
        while not ctx.stopping.is_set():
            self.beats += 1
            log.info(
                "heartbeat %d (up %.0f s)",
                self.beats,
                trio.current_time() - started,
                extra={"actor": ctx.name},
            )
            with trio.move_on_after(self._interval_s):
                await ctx.stopping.wait()

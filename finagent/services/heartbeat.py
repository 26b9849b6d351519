"""Heartbeat: a log line at a fixed interval, so an operator sees the daemon is alive."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, final

from trio_util import periodic

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
        ctx.started()
        await ctx.background(self._beat, ctx.name)

    async def _beat(self, name: str) -> None:
        # periodic: a beat that was late (a busy loop) does not push the later ones back
        async for up, _ in periodic(self._interval_s):
            self.beats += 1
            log.info("heartbeat %d (up %.0f s)", self.beats, up, extra={"actor": name})

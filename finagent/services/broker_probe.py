"""Is a remote broker reachable? A cheap call on a fixed beat, for ``/readyz``'s live check.

``BrokerProbe`` owns nothing durable. Receives nothing. Every ``every_s`` it asks the broker
for the account (one cheap, read-only call) and records the outcome; the check it exposes is
failing while the last call failed, or when no call has succeeded for three beats (a hung
call). Only a remote broker gets one: the paper broker lives in this process. Restart: permanent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, final

import trio

from finagent.domain.errors import BrokerError

if TYPE_CHECKING:
    from actors import ActorContext
    from finagent.ports.broker import Broker

__all__ = ["BrokerProbe"]

log = logging.getLogger(__name__)


@final
class BrokerProbe:
    """Calls ``broker.account()`` every ``every_s``; ``check()`` says why it is unreachable."""

    def __init__(self, broker: Broker, *, every_s: float = 15.0) -> None:
        self._broker = broker
        self._every = every_s
        self._last_ok: float | None = None
        self._error: str | None = None

    async def run(self, ctx: ActorContext[object]) -> None:
        """Probe at once, declare ready, then on every beat until stopped."""
        await self.probe()
        ctx.started()
        while not ctx.stopping.is_set():
            with trio.move_on_after(self._every):
                await ctx.stopping.wait()
            if not ctx.stopping.is_set():
                await self.probe()

    async def probe(self) -> None:
        """One call; a refusal or an outage is recorded, logged once, and never raised."""
        try:
            with trio.fail_after(self._every):
                await self._broker.account()
        except (BrokerError, trio.TooSlowError) as exc:
            error = str(exc) or type(exc).__name__
            if self._error is None:
                log.warning("broker unreachable: %s (not ready until it answers)", error)
            self._error = error
            return
        if self._error is not None:
            log.warning("broker reachable again")
        self._error = None
        self._last_ok = trio.current_time()

    def check(self) -> str | None:
        """None while the broker answers, else why not (``/readyz``'s ``broker_reachable``)."""
        if self._error is not None:
            return f"broker unreachable: {self._error}"
        if self._last_ok is None or trio.current_time() - self._last_ok > 3 * self._every:
            return "broker has not answered"
        return None

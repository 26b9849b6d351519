"""The flatten that does not need the database: while degraded at flatten time, act at the broker.

``FlattenGuard`` owns nothing durable. Receives nothing. Every session it sleeps until the
flatten time (close - ``plan.flatten_minutes_before_close``). Normally the scheduled ``flatten``
job closes everything through the queue; but a degraded daemon (the store cannot commit, or a
fault holds new entries) may be unable to enqueue or complete that job. So at flatten time,
and every ``recheck_s`` until the close while still degraded, the guard cancels working
entries and closes what the daemon holds through the Broker port alone
(:func:`~finagent.services.db_watch.stop_safely`): nothing is left working after the close
because a database failed. Restart: permanent.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, final

from finagent.services.db_watch import stop_safely

if TYPE_CHECKING:
    from datetime import datetime

    from actors import ActorContext
    from finagent.domain.schedule import Session
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.calendar import ExchangeCalendar
    from finagent.ports.clock import Clock
    from finagent.services.trading_state import TradingSwitch

__all__ = ["FlattenGuard"]

log = logging.getLogger(__name__)


@final
class FlattenGuard:
    """Flattens at the broker at flatten time while degraded. Receives nothing."""

    def __init__(
        self,
        switch: TradingSwitch,
        broker: Broker,
        calendar: ExchangeCalendar,
        clock: Clock,
        *,
        minutes_before_close: int,
        recheck_s: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._switch = switch
        self._broker = broker
        self._calendar = calendar
        self._clock = clock
        self._before = timedelta(minutes=minutes_before_close)
        self._recheck = timedelta(seconds=recheck_s)
        self._metrics = metrics
        self.flattened = 0  #: flattens made at the broker (each found something to do)

    def _next_session(self, now: datetime) -> Session | None:
        day = now.date()
        for session in self._calendar.sessions(day - timedelta(days=1), day + timedelta(days=7)):
            if session.close > now:
                return session
        return None

    async def run(self, ctx: ActorContext[object]) -> None:
        """Guard every session's flatten time until the supervisor stops us."""
        ctx.started()
        await ctx.background(self.guard)

    async def guard(self) -> None:
        """Sleep to each session's flatten time; while degraded then, flatten at the broker."""
        while True:
            now = self._clock.now()
            session = self._next_session(now)
            if session is None:  # no session within a week (a long closure): look again later
                await self._clock.sleep_until(now + timedelta(days=1))
                continue
            await self._clock.sleep_until(session.close - self._before)
            await self.at_flatten_time(session)

    async def at_flatten_time(self, session: Session) -> None:
        """From flatten time to the close: flatten at the broker whenever still degraded."""
        while self._clock.now() < session.close:
            reason = self._switch.degraded or self._switch.held
            if reason is not None:
                await self._flatten(session, reason)
            await self._clock.sleep_until(min(self._clock.now() + self._recheck, session.close))

    async def _flatten(self, session: Session, reason: str) -> None:
        if not await self._broker.open_orders():
            return  # nothing working and nothing held: already flat, so stay quiet
        done = await stop_safely(self._broker)
        self.flattened += 1
        if self._metrics is not None:
            self._metrics.broker_flattens.inc()
        log.warning(
            "degraded at flatten time (%s) on %s: flattened at the broker without the "
            "database: canceled %d working entr(ies), closed %d symbol(s)%s",
            reason, session.date.isoformat(), len(done.canceled), len(done.closed),
            f", FAILED {', '.join(done.failed)}" if done.failed else "",
        )  # fmt: skip

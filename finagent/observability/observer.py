"""Turns the actor runtime's lifecycle events into JSON log lines and actor metrics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, final

from actors.events import (
    ActorExited,
    ActorRestarted,
    ActorStarted,
    ExitReason,
    LoopLag,
    SupervisorEscalated,
    SupervisorGaveUp,
)

if TYPE_CHECKING:
    from actors.events import LifecycleEvent
    from finagent.observability.metrics import Metrics

__all__ = ["DEFAULT_LAG_WARN_S", "ActorObserver"]

DEFAULT_LAG_WARN_S: Final = 0.1
"""Loop lag at or above this is logged as a warning; below it only the gauge moves."""

log = logging.getLogger("finagent.actors")


@final
class ActorObserver:
    """The runtime's ``Observer``: logs every lifecycle event and feeds the actor metrics.

    ``finagent_actor_up{actor}`` follows started/exited, ``finagent_actor_restarts_total``
    counts restarts and ``finagent_event_loop_lag_seconds`` holds the watchdog's last reading.
    It never awaits and never raises, as the runtime requires.
    """

    def __init__(self, metrics: Metrics, *, lag_warn_s: float = DEFAULT_LAG_WARN_S) -> None:
        self._metrics = metrics
        self._lag_warn_s = lag_warn_s

    def on_event(self, event: LifecycleEvent) -> None:
        """Record one event."""
        m = self._metrics
        name = event.name
        match event:
            case ActorStarted():
                m.actor_up.labels(name).set(1)
                log.info("actor started", extra={"actor": name, "event": "started"})
            case ActorExited(reason=ExitReason.ERROR, exc=exc):
                m.actor_up.labels(name).set(0)
                log.error(
                    "actor crashed: %r",
                    exc,
                    exc_info=exc,
                    extra={"actor": name, "event": "exited", "reason": "error"},
                )
            case ActorExited(reason=reason):
                m.actor_up.labels(name).set(0)
                log.info(
                    "actor stopped (%s)",
                    reason.value,
                    extra={"actor": name, "event": "exited", "reason": reason.value},
                )
            case ActorRestarted(attempt=attempt, delay=delay):
                m.actor_restarts.labels(name).inc()
                log.warning(
                    "actor restarting in %.3fs (attempt %d)",
                    delay,
                    attempt,
                    extra={"actor": name, "event": "restarted", "attempt": attempt, "delay": delay},
                )
            case SupervisorGaveUp(restarts=restarts, within=within):
                m.actor_up.labels(name).set(0)
                log.error(
                    "supervisor gave up: more than %d restarts within %.1fs",
                    restarts,
                    within,
                    extra={
                        "actor": name,
                        "event": "gave_up",
                        "restarts": restarts,
                        "within": within,
                    },
                )
            case SupervisorEscalated(exc=exc):
                log.error(
                    "supervisor escalated %r to its parent",
                    exc,
                    exc_info=exc,
                    extra={"actor": name, "event": "escalated"},
                )
            case LoopLag(seconds=seconds):
                m.event_loop_lag.set(seconds)
                if seconds >= self._lag_warn_s:
                    log.warning(
                        "event loop lagged %.3fs",
                        seconds,
                        extra={"actor": name, "event": "loop_lag", "lag_s": seconds},
                    )
            case _:
                log.debug("unhandled lifecycle event %r", event, extra={"actor": name})

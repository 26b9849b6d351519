"""The daemon's live readiness checks, and what a storage fault switches on.

``/readyz`` is built from what the actors declared and from these checks, each re-evaluated
every second (:func:`finagent.observability.health.run_live_checks`): the store commits (no
storage fault held by the writer), the writer is not stalled (requests wait and nothing has
committed for ``STALL_S``), and the event loop keeps up (the watchdog's last lag).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, final

import trio

from actors.events import LoopLag

if TYPE_CHECKING:
    from collections.abc import Callable

    from actors.events import LifecycleEvent
    from finagent.domain.errors import StorageUnavailableError
    from finagent.observability import Metrics
    from finagent.services.store_health import StoreHealth
    from finagent.services.trading_state import TradingWatch

__all__ = ["LOOP_LAG_MAX_S", "STALL_S", "LoopLagCheck", "degrade_on_fault", "store_checks"]

STALL_S: Final = 30.0
"""Seconds without a commit, while requests wait, after which the writer counts as stalled."""
LOOP_LAG_MAX_S: Final = 2.0
"""Event-loop lag above which the daemon is not ready (timers, leases and asks run late)."""


def store_checks(
    health: StoreHealth, backlog: Callable[[], int], *, stall_s: float = STALL_S
) -> dict[str, Callable[[], str | None]]:
    """``store_writable`` and ``writer_not_stalled`` over the writer's health and mailbox.

    Args:
        health: the writer's :class:`StoreHealth`.
        backlog: requests waiting in the writer's mailbox now.
        stall_s: see :data:`STALL_S`.
    """

    def writable() -> str | None:
        fault = health.fault
        return None if fault is None else f"{fault} since {health.since_text()}"

    def not_stalled() -> str | None:
        waiting, last = backlog(), health.last_commit
        if not waiting or last is None:
            return None
        idle = trio.current_time() - last
        if idle <= stall_s:
            return None
        return f"{waiting} request(s) waiting, no commit for {idle:.0f} s"

    return {"store_writable": writable, "writer_not_stalled": not_stalled}


@final
class LoopLagCheck:
    """``loop_lag``: fails while the watchdog's last measured lag is over ``max_s``."""

    def __init__(self, max_s: float = LOOP_LAG_MAX_S) -> None:
        self._max_s = max_s
        self.lag = 0.0

    def on_event(self, event: LifecycleEvent) -> None:
        """Observer listener: keep the last ``LoopLag``."""
        if isinstance(event, LoopLag):
            self.lag = event.seconds

    def __call__(self) -> str | None:
        """None while the lag is under the threshold, else the lag."""
        if self.lag <= self._max_s:
            return None
        return f"event loop lag {self.lag:.2f} s > {self._max_s:g} s"


def degrade_on_fault(health: StoreHealth, watch: TradingWatch, metrics: Metrics) -> None:
    """While the store cannot commit: trading degraded, ``finagent_store_degraded`` 1."""

    def on_fault(fault: StorageUnavailableError | None) -> None:
        watch.on_store(fault)
        metrics.store_degraded.set(0 if fault is None else 1)
        if fault is not None:
            metrics.store_faults.labels(fault.reason).inc()

    health.listen(on_fault)

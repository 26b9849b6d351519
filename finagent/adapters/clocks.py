"""Clock adapters: the system's wall clock, and a virtual clock driven by Trio time.

Trio's ``MockClock`` moves ``trio.current_time()`` but not ``datetime.now()``. The
:class:`VirtualClock` therefore derives "now" from Trio time, so an autojumping
MockClock (tests) or a speeded-up run (the simulator) drives both Trio timeouts and
the wall time the scheduler sees.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SystemClock", "VirtualClock"]

# Re-check the wall clock at least this often while sleeping, so a suspended laptop or
# an NTP step does not make a long sleep overshoot its target.
_MAX_NAP_S = 60.0


@final
class SystemClock:
    """The real wall clock (UTC). ``time_fn`` is injectable for tests."""

    def __init__(self, time_fn: Callable[[], float] = time.time) -> None:
        self._time = time_fn

    def now(self) -> datetime:
        """The current instant, tz-aware UTC."""
        return datetime.fromtimestamp(self._time(), UTC)

    def timestamp(self) -> float:
        """The current instant as epoch seconds."""
        return self._time()

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until the wall clock reaches ``when``, re-checking at least once a minute."""
        target = when.timestamp()
        while True:
            remaining = target - self._time()
            if remaining <= 0:
                return
            await trio.sleep(min(remaining, _MAX_NAP_S))


@final
class VirtualClock:
    """Wall time as ``epoch + (trio.current_time() - t0) * speed``.

    Args:
        epoch: the wall instant (tz-aware) that Trio time ``t0`` maps to.
        speed: virtual seconds per Trio second (the simulator's ``sim.speed``).
        t0: the Trio time that maps to ``epoch``; defaults to ``trio.current_time()``
            at construction, so build it inside ``trio.run``.
    """

    def __init__(self, epoch: datetime, *, speed: float = 1.0, t0: float | None = None) -> None:
        if epoch.tzinfo is None:
            raise ValueError("VirtualClock epoch must be tz-aware")
        if speed <= 0:
            raise ValueError(f"VirtualClock speed must be > 0, got {speed}")
        self._epoch = epoch.astimezone(UTC)
        self._epoch_ts = self._epoch.timestamp()
        self._speed = speed
        self._t0 = trio.current_time() if t0 is None else t0

    @property
    def speed(self) -> float:
        """Virtual seconds per Trio second."""
        return self._speed

    def timestamp(self) -> float:
        """The current virtual instant as epoch seconds."""
        return self._epoch_ts + (trio.current_time() - self._t0) * self._speed

    def now(self) -> datetime:
        """The current virtual instant, tz-aware UTC."""
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def trio_deadline(self, when: datetime) -> float:
        """The Trio time at which the virtual clock reads ``when``."""
        return self._t0 + (when.timestamp() - self._epoch_ts) / self._speed

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until the virtual clock reads ``when`` (at once if it has passed)."""
        await trio.sleep_until(self.trio_deadline(when))

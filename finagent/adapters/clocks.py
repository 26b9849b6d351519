"""Clock adapters: the system's wall clock, and a virtual clock driven by Trio time.

Trio's ``MockClock`` moves ``trio.current_time()`` but not ``datetime.now()``. The
:class:`VirtualClock` therefore derives "now" from Trio time, so an autojumping
MockClock (tests) or a speeded-up run (the simulator) drives both Trio timeouts and
the wall time the scheduler sees.

A daemon's clock also *follows the wall clock* (``VirtualClock(..., wall=time.time)``):
Trio time is monotonic and never sees an NTP step or a suspend, while the exchange and
the broker run on the wall clock. Each reading compares wall progress with Trio progress;
a difference of :data:`STEP_S` or more is a step: one WARNING with its size, the
``on_step`` hook (the metric), and every sleeper re-plans at once. Smaller differences
(NTP slewing) are absorbed silently, so the clock never drifts from the wall.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["STEP_S", "SystemClock", "VirtualClock"]

log = logging.getLogger(__name__)

#: Wall progress that differs from Trio (monotonic) progress by this much is a clock step.
STEP_S = 1.0
# NTP slews at most 500 ppm: between two readings, allow 1 ms per second on top of STEP_S.
_SLEW = 0.001
# Re-check the wall clock at least this often while sleeping (Trio seconds), so an NTP step
# or a resumed suspend never makes a sleep overshoot its target by more than this.
_MAX_NAP_S = 1.0
# Re-basing onto a float wall reading moves a deadline by rounding noise (~1e-7 s at today's
# epoch): a sleeper this close to its deadline is done, rather than napping for the noise.
_EPSILON_S = 1e-6


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
        """Sleep until the wall clock reaches ``when``, re-checking it at least once a second."""
        target = when.timestamp()
        while True:
            remaining = target - self._time()
            if remaining <= 0:
                return
            await trio.sleep(min(remaining, _MAX_NAP_S))


@final
class VirtualClock:
    """Wall time as ``epoch + (trio.current_time() - t0) * speed``, optionally following ``wall``.

    Args:
        epoch: the wall instant (tz-aware) that Trio time ``t0`` maps to.
        speed: virtual seconds per Trio second (the simulator's ``sim.speed``).
        t0: the Trio time that maps to ``epoch``; defaults to ``trio.current_time()``
            at construction, so build it inside ``trio.run``.
        wall: the system clock (epoch seconds) to follow; None: Trio time alone (simulator).
        on_step: called with the size of each detected wall-clock step (wall seconds,
            negative: backwards), after the clock has re-based onto the stepped wall.
    """

    def __init__(
        self,
        epoch: datetime,
        *,
        speed: float = 1.0,
        t0: float | None = None,
        wall: Callable[[], float] | None = None,
        on_step: Callable[[float], None] | None = None,
    ) -> None:
        if epoch.tzinfo is None:
            raise ValueError("VirtualClock epoch must be tz-aware")
        if speed <= 0:
            raise ValueError(f"VirtualClock speed must be > 0, got {speed}")
        self._epoch_ts = epoch.timestamp()
        self._speed = speed
        self._t0 = trio.current_time() if t0 is None else t0
        self._wall = wall
        self._on_step = on_step
        self._trio_seen = self._t0
        self._wall_seen = wall() if wall is not None else 0.0
        self._stepped = trio.Event()

    def following(
        self, wall: Callable[[], float], on_step: Callable[[float], None] | None = None
    ) -> VirtualClock:
        """This clock's timeline from now on, following ``wall`` (see the module docstring)."""
        now = datetime.fromtimestamp(self.timestamp(), UTC)
        return VirtualClock(now, speed=self._speed, wall=wall, on_step=on_step)

    def sync(self) -> float:
        """Re-base onto the wall clock; returns the step found (wall seconds), 0.0 if none.

        A no-op without ``wall``. Called by every reading, so the first reader after a step
        reports it, once.
        """
        if self._wall is None:
            return 0.0
        trio_now, wall_now = trio.current_time(), self._wall()
        elapsed = trio_now - self._trio_seen
        jump = (wall_now - self._wall_seen) - elapsed
        self._trio_seen, self._wall_seen = trio_now, wall_now
        self._epoch_ts += jump * self._speed
        if abs(jump) < STEP_S + _SLEW * elapsed:
            return 0.0  # slewing, or nothing: absorbed
        direction = "forward" if jump > 0 else "backward"
        log.warning(
            "wall clock stepped %s by %.1fs (wall %.1fs vs monotonic %.1fs since the last"
            " reading); the schedule re-plans from the new time",
            direction,
            abs(jump),
            elapsed + jump,
            elapsed,
            extra={"event": "clock_step", "direction": direction, "step_s": jump},
        )
        if self._on_step is not None:
            self._on_step(jump)
        self._stepped.set()  # wake every sleeper: its Trio deadline is stale
        self._stepped = trio.Event()
        return jump

    @property
    def speed(self) -> float:
        """Virtual seconds per Trio second."""
        return self._speed

    def timestamp(self) -> float:
        """The current virtual instant as epoch seconds."""
        self.sync()
        return self._epoch_ts + (trio.current_time() - self._t0) * self._speed

    def now(self) -> datetime:
        """The current virtual instant, tz-aware UTC."""
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def trio_deadline(self, when: datetime) -> float:
        """The Trio time at which the virtual clock reads ``when`` (if the wall does not step)."""
        self.sync()
        return self._t0 + (when.timestamp() - self._epoch_ts) / self._speed

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until the virtual clock reads ``when`` (at once if it has passed).

        Following the wall clock, it naps at most a second at a time and wakes at once on
        a step, then re-plans: a forward step past ``when`` returns now; a backward one
        sleeps on until the stepped clock reads ``when``, never returning early.
        """
        if self._wall is None:
            await trio.sleep_until(self.trio_deadline(when))
            return
        while True:
            stepped = self._stepped
            deadline = self.trio_deadline(when)
            now = trio.current_time()
            if now >= deadline - _EPSILON_S:
                return
            with trio.move_on_at(min(deadline, now + _MAX_NAP_S)):
                await stepped.wait()

"""The scheduler actor: fires schedule entries into the job queue, in exchange time.

Owns the schedule. Receives nothing (its inbox is unused). Emits one job per firing,
keyed ``schedule:<entry>:<session date>`` so a restart, a double fire or two daemons
enqueue it once. Restart: permanent (a restart re-plans from the clock and the cursor).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, final

import trio

from finagent.domain.schedule import Decision, Entry, Firing, decide
from finagent.services.outage import patiently
from finagent.services.schedule_plan import firings_between

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from actors import ActorContext
    from finagent.ports.calendar import ExchangeCalendar, ScheduleCursor
    from finagent.ports.clock import Clock
    from finagent.ports.queue import JobQueue

__all__ = ["MemoryScheduleCursor", "Scheduler", "SkipCounter"]

log = logging.getLogger(__name__)

_LOOKAHEAD = timedelta(days=1)
_MAX_CATCH_UP = timedelta(days=7)


@final
class MemoryScheduleCursor:
    """A :class:`ScheduleCursor` kept in memory: progress survives actor restarts only."""

    def __init__(self, handled: datetime | None = None) -> None:
        self.handled = handled

    async def load(self) -> datetime | None:
        """The last handled fire time."""
        return self.handled

    async def save(self, handled: datetime) -> None:
        """Remember the last handled fire time."""
        self.handled = handled


@final
class SkipCounter:
    """A metric hook that counts skipped firings per entry (until Prometheus is wired)."""

    def __init__(self) -> None:
        self.skipped: dict[str, int] = {}

    def __call__(self, entry: Entry, fire_time: datetime) -> None:
        """Count one skipped firing of ``entry``."""
        self.skipped[entry.name] = self.skipped.get(entry.name, 0) + 1


@final
class Scheduler:
    """Fires each entry at its next fire time by sleeping on the Clock port.

    On start it catches up: every firing after the cursor (or, with no saved cursor,
    within its entry's grace window) runs late if still before its deadline, else it is
    skipped with a warning and ``on_skipped(entry, fire_time)``.

    Wall-clock steps: a clock that follows the wall (``VirtualClock(wall=...)``) wakes
    ``sleep_until`` within a second of a step. A forward step so becomes a catch-up in
    place (each firing stepped over runs late within its grace, or is skipped, logged and
    counted); a backward step sleeps on to the next firing by the stepped clock and never
    re-plans a handled firing (the plan only moves forward from the last one handled).

    Args:
        entries: validated entries (``schedule_plan.compile_entries``).
        calendar: the exchange calendar.
        clock: real or virtual wall time.
        queue: where jobs go; only ``enqueue`` is used.
        cursor: durable progress; without one, missed runs past grace go unreported.
        on_skipped: metric hook called once per skipped firing.
    """

    def __init__(
        self,
        entries: Sequence[Entry],
        calendar: ExchangeCalendar,
        clock: Clock,
        queue: JobQueue,
        *,
        cursor: ScheduleCursor | None = None,
        on_skipped: Callable[[Entry, datetime], None] | None = None,
    ) -> None:
        self._entries = list(entries)
        self._calendar = calendar
        self._clock = clock
        self._queue = queue
        self._cursor = cursor or MemoryScheduleCursor()
        self._on_skipped = on_skipped
        self._known_cursor = cursor is not None

    async def run(self, ctx: ActorContext[object]) -> None:
        """Actor entry point (``ChildSpec`` factory): serve until the supervisor asks to stop.

        Stopping mid-firing is safe: the cursor is saved only after a firing was handled,
        and a re-enqueue after restart is deduplicated by its key.
        """
        await ctx.background(self.serve, declare_started=True)  # started: caught up, armed
        log.info("scheduler stopping", extra={"actor": ctx.name})

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Catch up on missed firings, report started, then fire entries until cancelled."""
        done = await self.catch_up()
        task_status.started()
        while True:
            until = done + _LOOKAHEAD
            for firing in firings_between(self._entries, self._calendar, done, until):
                await self._clock.sleep_until(firing.fire_time)
                await self._handle(firing, self._clock.now())
                done = firing.fire_time
            await self._clock.sleep_until(until)
            done = until

    async def catch_up(self) -> datetime:
        """Handle firings missed while the daemon was down; returns the instant handled to."""
        now = self._clock.now()
        saved = await self._cursor.load() if self._known_cursor else None
        if not self._entries:
            return now
        if saved is None:
            after = now - max(e.grace for e in self._entries)
        else:
            after = max(saved, now - _MAX_CATCH_UP)
        for firing in firings_between(self._entries, self._calendar, after, now):
            if saved is None and decide(firing, now) is Decision.SKIP:
                continue  # no record of whether an earlier run fired it: stay silent
            await self._handle(firing, now)
        # A cursor ahead of now: the wall clock stepped back since. Those firings were handled.
        return now if saved is None else max(now, saved)

    async def _handle(self, firing: Firing, now: datetime) -> None:
        entry = firing.entry
        decision = decide(firing, now)
        fields = {"entry": entry.name, "key": firing.key, "fire_time": firing.fire_time.isoformat()}
        if decision is Decision.SKIP:
            log.warning(
                "schedule %s skipped: missed %s by more than its grace window",
                entry.name,
                firing.fire_time.isoformat(),
                extra={**fields, "deadline": firing.deadline.isoformat()},
            )
            if self._on_skipped is not None:
                self._on_skipped(entry, firing.fire_time)
        else:
            # Redis away: wait for it rather than crash (a late enqueue beats a lost one)
            await patiently(lambda: self._queue.enqueue([firing.job()]), f"schedule {entry.name}")
            late_s = max(0.0, (now - firing.fire_time).total_seconds())
            log.info(
                "schedule %s fired %s",
                entry.name,
                # a firing a few ms behind its time is on time: "late" only past a second
                "on time"
                if decision is Decision.FIRE or late_s <= 1.0
                else f"late by {late_s:.0f}s",
                extra={**fields, "job_type": entry.job_type, "late_s": late_s},
            )
        await self._cursor.save(firing.fire_time)

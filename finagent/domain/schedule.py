"""Schedule values and pure rules: `at:` specs, overrides, firings, idempotency keys, grace.

Time-zone math, cron evaluation and the exchange calendar live outside the domain
(``finagent.services.schedule_plan`` and the calendar port). Here every instant is a
tz-aware ``datetime`` passed in by the caller.

Exceptions::

    ScheduleError   one line naming the entry (or setting) at fault; the CLI exits 2
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from finagent.domain.errors import ConfigError
from finagent.domain.job_types import JobType
from finagent.domain.jobs import NewJob

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

__all__ = [
    "DEFAULT_JOB_TYPES",
    "Anchor",
    "AtSpec",
    "ClosedDay",
    "Decision",
    "Entry",
    "EntryValues",
    "Firing",
    "ScheduleError",
    "Session",
    "SessionOffset",
    "WallTime",
    "apply_at_overrides",
    "check_entry",
    "decide",
    "parse_at",
]

DEFAULT_JOB_TYPES: frozenset[str] = frozenset(
    {JobType.SCAN, JobType.TIME_STOP, JobType.FLATTEN, JobType.REPORT}
)


class ScheduleError(ConfigError):
    """A schedule problem, worded as one line that names the entry or setting at fault."""


class Anchor(StrEnum):
    """The session event a relative `at:` is measured from."""

    OPEN = "open"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class SessionOffset:
    """``open-30m``, ``close+5m``: an offset from a session's open or close."""

    anchor: Anchor
    offset: timedelta

    def __str__(self) -> str:
        secs = int(self.offset.total_seconds())
        if secs == 0:
            return self.anchor.value
        sign = "-" if secs < 0 else "+"
        hours, rest = divmod(abs(secs), 3600)
        minutes, seconds = divmod(rest, 60)
        parts = [f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
        return f"{self.anchor.value}{sign}{''.join(parts)}"


@dataclass(frozen=True, slots=True)
class WallTime:
    """``09:00``: a wall-clock time in the exchange's zone."""

    time: time

    def __str__(self) -> str:
        return self.time.isoformat(timespec="seconds" if self.time.second else "minutes")


AtSpec = SessionOffset | WallTime

_OFFSET = re.compile(r"^(open|close)(?:\s*([+-])\s*(?=\d)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?)?$")
_WALL = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_at(spec: str) -> AtSpec:
    """Parse an `at:` spec: ``open``, ``open-30m``, ``close+1h30m``, ``09:00`` or ``09:00:30``.

    Raises:
        ValueError: a message that says what forms are accepted.
    """
    text = spec.strip().lower()
    if m := _OFFSET.match(text):
        anchor, sign, h, mi, s = m.groups()
        delta = timedelta(hours=int(h or 0), minutes=int(mi or 0), seconds=int(s or 0))
        return SessionOffset(Anchor(anchor), -delta if sign == "-" else delta)
    if m := _WALL.match(text):
        hh, mm, ss = (int(g or 0) for g in m.groups())
        if hh > 23 or mm > 59 or ss > 59:
            raise ValueError(f"bad wall time in at {spec!r}: use HH:MM in 00:00..23:59")
        return WallTime(time(hh, mm, ss))
    raise ValueError(f"cannot parse at {spec!r}: use open-30m, close+5m, open, or HH:MM")


@dataclass(frozen=True, slots=True)
class EntryValues:
    """One `schedule:` entry as plain values (picked out of settings by the CLI)."""

    job_type: str
    cron: str | None = None
    at: str | None = None
    tz: str | None = None
    sessions_only: bool = True
    grace_s: float = 300.0


@dataclass(frozen=True, slots=True)
class Entry:
    """A validated entry. Exactly one of ``at`` and ``cron`` is set; ``tz`` is resolved."""

    name: str
    job_type: str
    at: AtSpec | None
    cron: str | None
    tz: str
    sessions_only: bool
    grace: timedelta

    @property
    def spec(self) -> str:
        """The trigger as written: ``at open-30m`` or ``cron 0 9 * * 1-5 (Europe/Berlin)``."""
        return f"at {self.at}" if self.at is not None else f"cron {self.cron} ({self.tz})"


def check_entry(name: str, values: EntryValues, known_job_types: Collection[str]) -> AtSpec | None:
    """Check what needs no library: cron xor at, a known job type, a parseable `at:`.

    Returns:
        The parsed `at:` spec, or None for a cron entry.

    Raises:
        ScheduleError: one line naming ``schedule.<name>``.
    """
    where = f"schedule.{name}"
    if values.job_type not in known_job_types:
        known = ", ".join(sorted(known_job_types))
        raise ScheduleError(f"{where}: unknown job_type {values.job_type!r} (known: {known})")
    if values.cron is not None and values.at is not None:
        raise ScheduleError(f"{where}: set either 'cron' or 'at', not both")
    if values.cron is None and values.at is None:
        raise ScheduleError(f"{where}: set one of 'cron' or 'at'")
    if values.at is None:
        return None
    try:
        return parse_at(values.at)
    except ValueError as exc:
        raise ScheduleError(f"{where}: {exc}") from None


def apply_at_overrides(
    entries: Mapping[str, EntryValues], overrides: Sequence[str]
) -> dict[str, EntryValues]:
    """Apply ``NAME=SPEC`` overrides (``--at premarket_scan=08:45``) for one run.

    The override replaces the entry's trigger with ``at: SPEC`` (a cron is dropped).

    Raises:
        ScheduleError: a malformed item, an unknown entry name or an unparseable spec.
    """
    out = dict(entries)
    for item in overrides:
        name, sep, spec = item.partition("=")
        name, spec = name.strip(), spec.strip()
        if not sep or not name or not spec:
            raise ScheduleError(f"--at {item!r}: expected NAME=SPEC, e.g. premarket_scan=08:45")
        if name not in out:
            known = ", ".join(sorted(out)) or "none"
            raise ScheduleError(f"--at {item!r}: unknown schedule entry {name!r} (known: {known})")
        try:
            parse_at(spec)
        except ValueError as exc:
            raise ScheduleError(f"--at {item!r}: {exc}") from None
        out[name] = replace(out[name], at=spec, cron=None)
    return out


@dataclass(frozen=True, slots=True)
class Session:
    """One exchange session: its date and its open and close as UTC instants."""

    date: date
    open: datetime
    close: datetime
    early_close: bool = False


@dataclass(frozen=True, slots=True)
class ClosedDay:
    """A weekday the exchange is closed, with the holiday's name if the calendar has one."""

    date: date
    name: str


class Decision(StrEnum):
    """What to do with a firing at a given instant."""

    FIRE = "fire"
    LATE = "late"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Firing:
    """One planned run of an entry: when, for which session date, and in which session."""

    entry: Entry
    fire_time: datetime
    session_date: date
    session: Session | None

    @property
    def key(self) -> str:
        """Idempotency key: entry + session date (+ the UTC instant for cron entries).

        A cron entry's key carries the full UTC instant, not just a time of day: on the
        25-hour day of a DST change the same UTC time of day can occur twice in one date.
        """
        base = f"schedule:{self.entry.name}:{self.session_date.isoformat()}"
        if self.entry.cron is None:
            return base
        return f"{base}@{_iso_utc(self.fire_time)}"

    @property
    def deadline(self) -> datetime:
        """The last instant it may still run: fire time + grace, never past its session's close.

        A firing planned before its session's close (a pre-market scan, a flatten) must not
        run after that close, even within its grace window.
        """
        latest = self.fire_time + self.entry.grace
        if self.session is not None and self.fire_time < self.session.close:
            return min(latest, self.session.close)
        return latest

    def payload(self) -> dict[str, Any]:
        """The job payload: what a service needs to know about the session it runs for."""
        s = self.session
        return {
            "schedule": self.entry.name,
            "session_date": self.session_date.isoformat(),
            "scheduled_for": _iso_utc(self.fire_time),
            "session_open": _iso_utc(s.open) if s else None,
            "session_close": _iso_utc(s.close) if s else None,
            "early_close": s.early_close if s else False,
        }

    def job(self) -> NewJob:
        """The job to enqueue for this firing."""
        return NewJob(type=self.entry.job_type, key=self.key, payload=self.payload())


def decide(firing: Firing, now: datetime) -> Decision:
    """FIRE on time, LATE within the grace window, SKIP once past :attr:`Firing.deadline`."""
    if now <= firing.fire_time:
        return Decision.FIRE
    return Decision.LATE if now <= firing.deadline else Decision.SKIP


def _iso_utc(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")

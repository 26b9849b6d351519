"""Schedule planning: validate entries and compute their firings over a time range.

Time-zone math is pendulum's, cron evaluation is cronsim's (on stdlib ``zoneinfo``, which
cronsim handles across DST changes), sessions come from the :class:`ExchangeCalendar` port.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, assert_never
from zoneinfo import ZoneInfo

import pendulum
from cronsim import CronSim, CronSimError

from finagent.domain.schedule import (
    Anchor,
    Entry,
    EntryValues,
    Firing,
    ScheduleError,
    Session,
    SessionOffset,
    WallTime,
    check_entry,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping, Sequence

    from finagent.ports.calendar import ExchangeCalendar

__all__ = ["check_exchange", "check_zone", "compile_entries", "firings_between"]

_DAY = timedelta(days=1)


def check_zone(zone: str, where: str) -> str:
    """Return ``zone`` if it is a known IANA zone.

    Raises:
        ScheduleError: ``<where>: unknown time zone '<zone>'``.
    """
    try:
        pendulum.timezone(zone)
    except (ValueError, KeyError):
        raise ScheduleError(f"{where}: unknown time zone {zone!r}") from None
    return zone


def compile_entries(
    values: Mapping[str, EntryValues], *, known_job_types: Collection[str], exchange_tz: str
) -> list[Entry]:
    """Validate every entry and resolve its zone (default: the exchange's).

    Raises:
        ScheduleError: the first bad entry, in one line naming ``schedule.<name>``.
    """
    out = []
    for name, entry in values.items():
        at = check_entry(name, entry, known_job_types)
        tz = check_zone(entry.tz or exchange_tz, f"schedule.{name}.tz")
        if entry.cron is not None:
            try:
                CronSim(entry.cron, datetime(2000, 1, 1, tzinfo=UTC))
            except CronSimError as exc:
                raise ScheduleError(
                    f"schedule.{name}: invalid cron {entry.cron!r}: {exc}"
                ) from None
        if entry.grace_s < 0:
            raise ScheduleError(f"schedule.{name}: grace_s must be >= 0, got {entry.grace_s}")
        out.append(
            Entry(
                name=name,
                job_type=entry.job_type,
                at=at,
                cron=entry.cron,
                tz=tz,
                sessions_only=entry.sessions_only,
                grace=timedelta(seconds=entry.grace_s),
            )
        )
    return out


def firings_between(
    entries: Sequence[Entry], calendar: ExchangeCalendar, after: datetime, until: datetime
) -> list[Firing]:
    """Every firing with ``after < fire_time <= until``, by time then entry order."""
    zone = calendar.timezone
    first = pendulum.instance(after).in_tz(zone).date() - _DAY
    last = pendulum.instance(until).in_tz(zone).date() + _DAY
    sessions = {s.date: s for s in calendar.sessions(first, last)}
    found: list[tuple[datetime, int, Firing]] = []
    for order, entry in enumerate(entries):
        for firing in _entry_firings(entry, sessions, zone, first, last, after, until):
            if after < firing.fire_time <= until:
                found.append((firing.fire_time, order, firing))
    found.sort(key=lambda item: (item[0], item[1]))
    return [firing for _, _, firing in found]


def _entry_firings(
    entry: Entry,
    sessions: Mapping[date, Session],
    zone: str,
    first: date,
    last: date,
    after: datetime,
    until: datetime,
) -> Iterator[Firing]:
    if entry.at is None:
        yield from _cron_firings(entry, sessions, zone, after, until)
        return
    match entry.at:
        case SessionOffset(anchor=anchor, offset=offset):
            for s in sessions.values():
                base = s.open if anchor is Anchor.OPEN else s.close
                yield Firing(entry, base + offset, s.date, s)
        case WallTime(time=wall):
            day = first
            while day <= last:
                session = sessions.get(day)
                if session is not None or not entry.sessions_only:
                    local = pendulum.datetime(
                        day.year, day.month, day.day, wall.hour, wall.minute, wall.second, tz=zone
                    )
                    yield Firing(entry, _utc(local), day, session)
                day += _DAY
        case _:
            assert_never(entry.at)


def _cron_firings(
    entry: Entry, sessions: Mapping[date, Session], zone: str, after: datetime, until: datetime
) -> Iterator[Firing]:
    assert entry.cron is not None  # compile_entries guarantees cron xor at
    start = after.astimezone(ZoneInfo(entry.tz))
    sim = CronSim(entry.cron, start)
    while (fire := _utc(next(sim))) <= until:
        day = pendulum.instance(fire).in_tz(zone).date()
        session = sessions.get(day)
        if session is not None or not entry.sessions_only:
            yield Firing(entry, fire, day, session)


def _utc(when: datetime) -> datetime:
    return datetime.fromtimestamp(when.timestamp(), UTC)


def check_exchange(calendar: ExchangeCalendar, zone: str) -> None:
    """Check that ``exchange.timezone`` is the calendar's own zone.

    Raises:
        ScheduleError: the two disagree (wall times and session dates would be ambiguous).
    """
    if calendar.timezone != zone:
        own = f"calendar {calendar.name}'s zone {calendar.timezone!r}"
        raise ScheduleError(f"exchange.timezone: {zone!r} does not match {own}")

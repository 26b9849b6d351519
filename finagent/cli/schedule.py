"""``finagent schedule``: the next fire times of every entry, in exchange and display time.

Heavy imports (pendulum, exchange_calendars via the adapter, the app) happen inside the
command, so mounting this app costs the rest of the CLI nothing at start-up.
"""

from __future__ import annotations

import json as jsonlib
from datetime import date, datetime, timedelta
from pathlib import Path  # noqa: TC003 - cyclopts reads the annotations at runtime
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import App, Parameter

from finagent.cli.common import load, one_line_errors
from finagent.domain.schedule import ScheduleError

if TYPE_CHECKING:
    from finagent.domain.schedule import ClosedDay, Firing

__all__ = ["MAX_DAYS", "schedule_app"]

#: the longest preview ``--days`` allows (ten years): longer ones only take time to print
MAX_DAYS = 3660
# The calendar (pandas timestamps, up to 2262-04-11) is built a year past the last day asked.
_EARLIEST, _LATEST = date(1678, 1, 1), date(2261, 3, 31)

schedule_app = App(name="schedule", help="Show the next fire times of every schedule entry.")


@schedule_app.default
def schedule(
    *,
    days: Annotated[int, Parameter(help="how many calendar days to show")] = 7,
    from_: Annotated[
        str | None, Parameter(name="--from", help="first day, YYYY-MM-DD (default: today)")
    ] = None,
    tz: Annotated[
        str | None, Parameter(help="display zone (default: exchange.display_timezone)")
    ] = None,
    at: Annotated[list[str] | None, Parameter(help="preview an override: NAME=SPEC")] = None,
    json: Annotated[bool, Parameter(help="print a JSON list of firings")] = False,
    config: Annotated[Path | None, Parameter(name="--config", help="settings file")] = None,
) -> None:
    """Print the fire times of every entry; holidays are listed as closed, early closes marked."""
    settings = load(config).settings
    with one_line_errors(ScheduleError):
        plan = _plan(settings, days=days, start=from_, display=tz, at=at or [])
    print(jsonlib.dumps(plan.as_json(), indent=2) if json else plan.as_table())


class _Plan:
    """What the command shows: firings and closed days over a range of exchange dates."""

    def __init__(
        self,
        calendar: str,
        exchange_tz: str,
        display_tz: str,
        first: date,
        last: date,
        firings: list[Firing],
        closed: list[ClosedDay],
    ) -> None:
        self.calendar, self.exchange_tz, self.display_tz = calendar, exchange_tz, display_tz
        self.first, self.last, self.firings, self.closed = first, last, firings, closed

    def _at(self, when: datetime, zone: str) -> Any:
        import pendulum

        return pendulum.instance(when).in_tz(zone)

    def as_json(self) -> list[dict[str, Any]]:
        """One object per firing."""
        return [
            {
                "entry": f.entry.name,
                "job_type": f.entry.job_type,
                "session_date": f.session_date.isoformat(),
                "exchange_time": self._at(f.fire_time, self.exchange_tz).isoformat(),
                "display_time": self._at(f.fire_time, self.display_tz).isoformat(),
                "early_close": bool(f.session and f.session.early_close),
                "key": f.key,
            }
            for f in self.firings
        ]

    def as_table(self) -> str:
        """A human table grouped by session date."""
        lines = [
            f"{self.calendar} schedule {self.first} .. {self.last}"
            f"  (exchange time {self.exchange_tz}, display {self.display_tz})",
            "",
            f"{'date':<15} {'session':<24} {'entry':<16} {'job':<10} {'exchange':<10} display",
        ]
        closed = {c.date: c for c in self.closed}
        days = sorted({f.session_date for f in self.firings} | set(closed))
        for day in days:
            label = f"{day} {day:%a}"
            if day in closed:
                lines.append(f"{label:<15} CLOSED ({closed[day].name})")
                continue
            for i, f in enumerate(f for f in self.firings if f.session_date == day):
                lines.append(self._row(label if i == 0 else "", f, first=i == 0))
        if not days:
            lines.append("(nothing scheduled)")
        return "\n".join(lines)

    def _row(self, label: str, f: Firing, *, first: bool) -> str:
        session = ""
        if first and f.session is not None:
            o = self._at(f.session.open, self.exchange_tz).strftime("%H:%M")
            c = self._at(f.session.close, self.exchange_tz).strftime("%H:%M")
            session = f"{o}-{c}" + (" EARLY CLOSE" if f.session.early_close else "")
        elif first:
            session = "no session"
        ex = self._at(f.fire_time, self.exchange_tz).strftime("%H:%M %Z")
        shown = self._at(f.fire_time, self.display_tz)
        disp = shown.strftime("%H:%M %Z" if shown.date() == f.session_date else "%a %H:%M %Z")
        return (
            f"{label:<15} {session:<24} {f.entry.name:<16} {f.entry.job_type:<10} {ex:<10} {disp}"
        )


def _plan(
    settings: Any, *, days: int, start: str | None, display: str | None, at: list[str]
) -> _Plan:
    from finagent.app import KNOWN_JOB_TYPES, schedule_values
    from finagent.app.exchange import exchange_calendar, system_clock
    from finagent.services.schedule_plan import (
        check_exchange,
        check_zone,
        compile_entries,
        firings_between,
    )

    if not 1 <= days <= MAX_DAYS:
        raise ScheduleError(f"--days must be between 1 and {MAX_DAYS}, got {days}")
    ex = settings.exchange
    exchange_tz = check_zone(ex.timezone, "exchange.timezone")
    display_tz = check_zone(
        display or ex.display_timezone, "--tz" if display else "exchange.display_timezone"
    )
    entries = compile_entries(
        schedule_values(settings, at), known_job_types=KNOWN_JOB_TYPES, exchange_tz=exchange_tz
    )
    calendar = exchange_calendar(ex.calendar)
    check_exchange(calendar, exchange_tz)
    first = _first_day(start, system_clock().now(), exchange_tz)
    last = first + timedelta(days=days - 1)
    if first < _EARLIEST or last > _LATEST:
        raise ScheduleError(f"--from: {first} .. {last} is outside {_EARLIEST} .. {_LATEST}")
    after = _midnight(first, exchange_tz) - timedelta(microseconds=1)
    until = _midnight(last + timedelta(days=1), exchange_tz) - timedelta(microseconds=1)
    firings = firings_between(entries, calendar, after, until)
    firings = [f for f in firings if first <= f.session_date <= last]
    return _Plan(
        calendar.name,
        exchange_tz,
        display_tz,
        first,
        last,
        firings,
        calendar.closed_days(first, last),
    )


def _first_day(start: str | None, now: datetime, zone: str) -> date:
    import pendulum

    if start is None:
        return pendulum.instance(now).in_tz(zone).date()
    try:
        return date.fromisoformat(start)
    except ValueError:
        raise ScheduleError(f"--from: expected a date YYYY-MM-DD, got {start!r}") from None


def _midnight(day: date, zone: str) -> datetime:
    import pendulum

    return pendulum.datetime(day.year, day.month, day.day, tz=zone)

"""ExchangeCalendar over the ``exchange_calendars`` library (sessions, holidays, early closes).

``exchange_calendars`` pulls in pandas (slow to import), so it is imported inside the
constructor: command-line paths that never build a calendar never pay for it.
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, timedelta
from typing import Any, final

from finagent.domain.schedule import ClosedDay, ScheduleError, Session

__all__ = ["XcalsExchangeCalendar"]

_MARGIN = timedelta(days=366)


@final
class XcalsExchangeCalendar:
    """An exchange calendar by code (``XNYS``, ``XLON``, ...) from ``exchange_calendars``.

    The library builds a calendar for a bounded range of dates; a query outside that range
    rebuilds it wider, so a daemon that runs for years never falls off the end.
    """

    def __init__(self, name: str = "XNYS", *, start: date | None = None) -> None:
        import exchange_calendars as xc  # lazy: pulls pandas, see the module docstring

        self._xc: Any = xc
        self._name = name
        try:
            self._cal: Any = self._build(start, None)
        except xc.errors.InvalidCalendarName:
            raise ScheduleError(f"exchange.calendar: unknown calendar {name!r}") from None

    @property
    def name(self) -> str:
        """The calendar's code."""
        return self._name

    @property
    def timezone(self) -> str:
        """The exchange's IANA zone."""
        return str(self._cal.tz.key)

    def sessions(self, start: date, end: date) -> list[Session]:
        """Sessions dated in ``[start, end]``."""
        if end < start:
            return []
        self._cover(start, end)
        rows = self._cal.schedule.loc[start.isoformat() : end.isoformat()]
        early = {ts.date() for ts in self._cal.early_closes}
        out = []
        for label, row in rows.iterrows():
            day = label.date()
            out.append(
                Session(
                    date=day,
                    open=row["open"].to_pydatetime().astimezone(UTC),
                    close=row["close"].to_pydatetime().astimezone(UTC),
                    early_close=day in early,
                )
            )
        return out

    def closed_days(self, start: date, end: date) -> list[ClosedDay]:
        """Weekdays (by the calendar's week mask) in ``[start, end]`` with no session."""
        if end < start:
            return []
        open_days = {s.date for s in self.sessions(start, end)}
        names = self._holiday_names(start, end)
        mask = str(self._cal.weekmask)
        out = []
        day = start
        while day <= end:
            if mask[day.weekday()] == "1" and day not in open_days:
                out.append(ClosedDay(day, names.get(day, "holiday")))
            day += timedelta(days=1)
        return out

    def _holiday_names(self, start: date, end: date) -> dict[date, str]:
        rules = self._cal.regular_holidays
        if rules is None:  # pragma: no cover - every calendar we ship has regular holidays
            return {}
        with warnings.catch_warnings():
            # exchange_calendars 4.13 on pandas 3 trips pandas' deprecation warnings.
            warnings.simplefilter("ignore", DeprecationWarning)
            named = rules.holidays(start.isoformat(), end.isoformat(), return_name=True)
        return {ts.date(): str(label) for ts, label in named.items()}

    def _cover(self, start: date, end: date) -> None:
        first = self._cal.first_session.date()
        last = self._cal.last_session.date()
        if start < first or end > last:
            try:
                self._cal = self._build(min(start, first), max(end, last) + _MARGIN)
            except ValueError:  # pandas' OutOfBoundsDatetime, or a year below 1
                raise ScheduleError(
                    f"exchange.calendar: {start} .. {end} is outside the dates it can hold"
                    " (pandas: 1678 .. 2261)"
                ) from None

    def _build(self, start: date | None, end: date | None) -> Any:
        kwargs = {}
        if start is not None:
            kwargs["start"] = start.isoformat()
        if end is not None:
            kwargs["end"] = end.isoformat()
        with warnings.catch_warnings():
            # exchange_calendars 4.13 on pandas 3 trips pandas' deprecation warnings.
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._xc.get_calendar(self._name, **kwargs)

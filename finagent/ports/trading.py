"""The trading-records port: trading state, daily reports, the job trail, the schedule cursor.

These rows live in the job database and are written by the single writer: each operation is a
frozen dataclass the persistence actor hands to the store with the job operations (the store
applies them after the batch's job transaction, in the same call). The CLI's ``halt`` and
``resume`` are the one outside writer: a short transaction on the control row. The daemon
answers each change of that row with an :class:`Applied` record (what it applied, when, its
pid), so the command can tell an acknowledgement from silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "Applied",
    "AppliedRecords",
    "Control",
    "GetCursor",
    "GetReport",
    "JobTrail",
    "PutApplied",
    "PutCursor",
    "PutReport",
    "ReadControl",
    "SessionJobs",
    "TradingOp",
    "TradingRecords",
]


@dataclass(frozen=True, slots=True)
class Control:
    """The operator's kill switch: a trading state and a flatten request counter."""

    state: str = "active"
    flatten_seq: int = 0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Applied:
    """What a daemon applied of the control row: the request it answers, and when (wall clock).

    ``requested_at`` is the control row's ``updated_at`` it applied (the request's identity);
    ``state`` is the state it trades in, which a fault's hold may keep below the one asked
    (``held`` then says why).
    """

    state: str
    flatten_seq: int
    requested_at: float
    pid: int
    applied_at: float
    held: str | None = None


@dataclass(frozen=True, slots=True)
class JobTrail:
    """One stored job of a session, as the reporter reads it."""

    type: str
    key: str
    status: str
    attempts: int
    payload: Mapping[str, Any]
    created_at: float
    run_at: float
    finished_at: float | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ReadControl:
    """Read the control row. Result: ``Control``."""


@dataclass(frozen=True, slots=True)
class PutReport:
    """Store (replace) a session's daily report. Result: ``None``."""

    session_date: str
    report: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class GetReport:
    """Read a session's daily report. Result: ``Mapping | None``."""

    session_date: str


@dataclass(frozen=True, slots=True)
class SessionJobs:
    """Every job whose key names the session date. Result: ``list[JobTrail]``."""

    session_date: str


@dataclass(frozen=True, slots=True)
class GetCursor:
    """Read the scheduler's cursor. Result: epoch seconds, or ``None`` if never saved."""


@dataclass(frozen=True, slots=True)
class PutCursor:
    """Store the scheduler's cursor (the last handled fire time). Result: ``None``."""

    handled: float


@dataclass(frozen=True, slots=True)
class PutApplied:
    """Record what the daemon applied of the control row (replaces the last). Result: ``None``."""

    applied: Applied


TradingOp = ReadControl | PutReport | GetReport | SessionJobs | GetCursor | PutCursor | PutApplied


class AppliedRecords(Protocol):
    """Where the trading watch acknowledges the kill switch; durable when the call returns."""

    async def record_applied(self, applied: Applied) -> None:
        """Record what this daemon applied of the control row."""
        ...


class TradingRecords(Protocol):
    """What the services read and write besides jobs; durable when each call returns."""

    async def control(self) -> Control:
        """The current control row."""
        ...

    async def put_report(self, session_date: str, report: Mapping[str, Any]) -> None:
        """Store a session's daily report (a re-run replaces it)."""
        ...

    async def session_jobs(self, session_date: str) -> list[JobTrail]:
        """Every job of the session, oldest first."""
        ...

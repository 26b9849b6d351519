"""The read model: one :class:`Status` of the daemon from its files, never from the daemon.

``finagent status`` (and the dashboard later) read everything here over read-only connections
and the database's lock: whether a daemon runs (the lock's holder and the note it wrote), the
trading state asked and applied, the session, the next firings, the paper broker's book and
the queue. Nothing here writes, and nothing calls the network: with an Alpaca broker the book
is remote, and on the Redis backend the queue is in Redis (``broker_view`` / ``queue`` say so).

"Now" is the daemon's clock: on SQLite that is the anchored timeline stored in the database
(the simulated one at ``--speed N``), so ages and the session match what the daemon sees.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pendulum

from finagent.adapters.sim.paper_broker import read_paper_book
from finagent.adapters.sqlite.dbfile import lock_holder
from finagent.adapters.sqlite.state import read_anchor, read_applied, read_control
from finagent.app import database
from finagent.app.daemon import KNOWN_JOB_TYPES, schedule_values
from finagent.app.exchange import exchange_calendar
from finagent.app.parts import broker_path
from finagent.domain.jobs import JobStatus
from finagent.domain.pnl import positions_from, realized_pnl
from finagent.services.schedule_plan import compile_entries, firings_between

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from decimal import Decimal
    from pathlib import Path

    from finagent.domain.orders import BrokerOrder, Fill
    from finagent.domain.schedule import Session
    from finagent.ports.trading import Applied
    from finagent.settings import Settings

__all__ = [
    "DaemonInfo",
    "DayBook",
    "FiringInfo",
    "OrderInfo",
    "PositionInfo",
    "QueueInfo",
    "SessionInfo",
    "Status",
    "day_book",
    "read_status",
    "status_json",
]

#: How far ahead ``next_firings`` looks (a long weekend plus a holiday fits).
_LOOKAHEAD = timedelta(days=10)


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """The process holding the database's lock, as it described itself at start."""

    running: bool
    pid: int | None = None
    since: datetime | None = None
    version: str | None = None
    feed: str | None = None
    broker: str | None = None
    queue_backend: str | None = None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """The exchange session around "now": today's hours (if a session day) and the next ones."""

    open: bool
    today_open: datetime | None
    today_close: datetime | None
    early_close: bool
    next_open: datetime | None
    next_close: datetime | None


@dataclass(frozen=True, slots=True)
class FiringInfo:
    """The next firing of one schedule entry."""

    entry: str
    job_type: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PositionInfo:
    """A net position; the price and unrealized P&L are None where no price is known."""

    symbol: str
    quantity: int
    avg_price: Decimal
    last_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OrderInfo:
    """One of today's bracket orders and how far it filled."""

    client_order_id: str
    symbol: str
    side: str
    quantity: int
    status: str
    submitted_at: datetime
    filled_quantity: int
    filled_price: Decimal | None
    exit_price: Decimal | None
    exit_kind: str | None


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """Jobs by status, and the oldest due pending job's age in the daemon's clock."""

    pending: int
    running: int
    dead: int
    oldest_pending_age_s: float | None


@dataclass(frozen=True, slots=True)
class Status:
    """Everything ``finagent status`` shows, read from the files at ``now`` (the daemon's clock).

    ``trading_state`` is what the running daemon applied when it answered the current control
    row, else the state asked (``requested_state``). ``broker_view`` is ``paper`` (the book
    is read from the paper broker's file) or ``remote`` (an Alpaca account: not read here).
    """

    path: Path
    now: datetime
    daemon: DaemonInfo
    trading_state: str
    requested_state: str
    trading_reason: str | None
    applied: Applied | None
    session: SessionInfo
    next_firings: Sequence[FiringInfo]
    broker_view: str
    positions: Sequence[PositionInfo]
    orders: Sequence[OrderInfo]
    realized_pnl: Decimal | None
    queue: QueueInfo | None


def read_status(settings: Settings, *, wall: Callable[[], float] = time.time) -> Status:
    """Read the daemon's status from ``settings.db_path`` and its neighbours; writes nothing.

    Raises:
        StorageError: the database is missing or not a usable finagent database.
    """
    path = settings.db_path
    control = read_control(path)  # raises StoreError for a missing or foreign file
    anchor = read_anchor(path)
    now_ts = anchor.virtual(wall()) if anchor is not None else wall()
    now = datetime.fromtimestamp(now_ts, UTC)
    daemon = _daemon(path)
    applied = read_applied(path)
    current = (
        applied if applied is not None and applied.requested_at == control.updated_at else None
    )
    state = current.state if current is not None and daemon.running else control.state
    paper = settings.broker == "paper"
    book = read_paper_book(broker_path(path, settings.paper.db_path)) if paper else None
    orders, fills = book if book is not None else ([], [])
    day = pendulum.instance(now).in_tz(settings.exchange.timezone).date()
    today = [f for f in fills if _exchange_date(f.at, settings) == day]
    return Status(
        path=path.resolve(),
        now=now,
        daemon=daemon,
        trading_state=state,
        requested_state=control.state,
        trading_reason=_reason(control.state, control.updated_at, current, daemon.running),
        applied=applied,
        session=_session(settings, now),
        next_firings=_next_firings(settings, now),
        broker_view="paper" if paper else "remote",
        positions=_positions(fills),
        orders=[_order(o) for o in orders if _exchange_date(o.submitted_at, settings) == day],
        realized_pnl=realized_pnl(today) if paper else None,
        queue=_queue(path, now_ts) if settings.queue_backend == "sqlite" else None,
    )


@dataclass(frozen=True, slots=True)
class DayBook:
    """One exchange day of the paper broker's book: its orders, its fills, its realized P&L."""

    day: date
    orders: Sequence[OrderInfo]
    fills: Sequence[Fill]
    realized_pnl: Decimal


def day_book(settings: Settings, day: date) -> DayBook | None:
    """The paper book of exchange day ``day``; None with a remote broker or no book yet."""
    if settings.broker != "paper":
        return None
    book = read_paper_book(broker_path(settings.db_path, settings.paper.db_path))
    if book is None:
        return None
    orders, fills = book
    mine = [f for f in fills if _exchange_date(f.at, settings) == day]
    return DayBook(
        day,
        [_order(o) for o in orders if _exchange_date(o.submitted_at, settings) == day],
        mine,
        realized_pnl(mine),
    )


def _daemon(path: Path) -> DaemonInfo:
    holder = lock_holder(path)
    if holder is None:
        return DaemonInfo(running=False)
    note = holder.note
    since = note.get("since")
    return DaemonInfo(
        running=True,
        pid=holder.pid,
        since=datetime.fromtimestamp(since, UTC) if isinstance(since, int | float) else None,
        version=_text(note.get("version")),
        feed=_text(note.get("feed")),
        broker=_text(note.get("broker")),
        queue_backend=_text(note.get("queue_backend")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _reason(asked: str, at: float, current: Applied | None, running: bool) -> str | None:
    if current is not None and current.held is not None and running:
        return current.held
    if asked == "active":
        return None
    when = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    return f"{asked} since {when}; `finagent resume` lifts it"


def _exchange_date(when: datetime, settings: Settings) -> date:
    return pendulum.instance(when).in_tz(settings.exchange.timezone).date()


def _session(settings: Settings, now: datetime) -> SessionInfo:
    calendar = exchange_calendar(settings.exchange.calendar)
    day = pendulum.instance(now).in_tz(calendar.timezone).date()
    sessions = calendar.sessions(day, day + _LOOKAHEAD)
    today: Session | None = sessions[0] if sessions and sessions[0].date == day else None
    is_open = today is not None and today.open <= now < today.close
    upcoming = [s for s in sessions if s.open > now]
    nxt = upcoming[0] if upcoming else None
    closes = today.close if is_open and today is not None else nxt.close if nxt else None
    return SessionInfo(
        open=is_open,
        today_open=today.open if today is not None else None,
        today_close=today.close if today is not None else None,
        early_close=today.early_close if today is not None else False,
        next_open=nxt.open if nxt is not None else None,
        next_close=closes,
    )


def _next_firings(settings: Settings, now: datetime) -> list[FiringInfo]:
    """The next firing of each entry as configured (``up --at`` overrides are not stored)."""
    entries = compile_entries(
        schedule_values(settings),
        known_job_types=KNOWN_JOB_TYPES,
        exchange_tz=settings.exchange.timezone,
    )
    calendar = exchange_calendar(settings.exchange.calendar)
    first: dict[str, FiringInfo] = {}
    for f in firings_between(entries, calendar, now, now + _LOOKAHEAD):
        first.setdefault(f.entry.name, FiringInfo(f.entry.name, f.entry.job_type, f.fire_time))
    return sorted(first.values(), key=lambda f: (f.at, f.entry))


def _positions(fills: list[Fill]) -> list[PositionInfo]:
    # The paper broker stores no quotes: without a price, unrealized P&L stays unknown (None).
    book = positions_from(fills)
    return [PositionInfo(s, book[s].quantity, book[s].avg_price) for s in sorted(book)]


def _order(o: BrokerOrder) -> OrderInfo:
    return OrderInfo(
        o.client_order_id, o.symbol, o.order.side.value, o.order.quantity, o.status.value,
        o.submitted_at, o.filled_quantity, o.filled_price, o.exit_price,
        o.exit_kind.value if o.exit_kind is not None else None,
    )  # fmt: skip


def _queue(path: Path, now: float) -> QueueInfo:
    stats = database.queue_stats(path, now)
    return QueueInfo(
        stats.total(JobStatus.PENDING),
        stats.total(JobStatus.RUNNING),
        stats.total(JobStatus.DEAD),
        stats.oldest_pending_age_s,
    )


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def status_json(s: Status) -> dict[str, object]:
    """The documented JSON of ``finagent status --json`` (docs/operating.md): stable keys.

    Times are ISO 8601 UTC; money is a decimal string (exact); unknown values are null.
    """
    d, ss, a, q = s.daemon, s.session, s.applied, s.queue
    return {
        "db": str(s.path),
        "now": _iso(s.now),
        "daemon": {
            "running": d.running, "pid": d.pid, "since": _iso(d.since), "version": d.version,
            "feed": d.feed, "broker": d.broker, "queue_backend": d.queue_backend,
        },
        "trading_state": s.trading_state,
        "requested_state": s.requested_state,
        "trading_reason": s.trading_reason,
        "applied": None if a is None else {
            "state": a.state, "pid": a.pid, "at": _iso(datetime.fromtimestamp(a.applied_at, UTC)),
            "flatten_seq": a.flatten_seq, "held": a.held,
        },
        "session": {
            "open": ss.open, "today_open": _iso(ss.today_open),
            "today_close": _iso(ss.today_close), "early_close": ss.early_close,
            "next_open": _iso(ss.next_open), "next_close": _iso(ss.next_close),
        },
        "next_firings": [
            {"entry": f.entry, "job_type": f.job_type, "at": _iso(f.at)} for f in s.next_firings
        ],
        "broker_view": s.broker_view,
        "positions": [
            {"symbol": p.symbol, "quantity": p.quantity, "avg_price": _num(p.avg_price),
             "last_price": _num(p.last_price), "unrealized_pnl": _num(p.unrealized_pnl)}
            for p in s.positions
        ],
        "orders": [
            {"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side,
             "quantity": o.quantity, "status": o.status, "submitted_at": _iso(o.submitted_at),
             "filled_quantity": o.filled_quantity, "filled_price": _num(o.filled_price),
             "exit_price": _num(o.exit_price), "exit_kind": o.exit_kind}
            for o in s.orders
        ],
        "realized_pnl": _num(s.realized_pnl),
        # On Redis the counts are in Redis (not read here): the same keys, null.
        "queue": {
            "backend": "sqlite" if s.queue is not None else "redis",
            "pending": q.pending if q else None, "running": q.running if q else None,
            "dead": q.dead if q else None,
            "oldest_pending_age_s": q.oldest_pending_age_s if q else None,
        },
    }  # fmt: skip

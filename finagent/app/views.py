"""More of the read model for the dashboard: history, a session's pipeline, queue, schedule, health.

Beside :mod:`finagent.app.status` (the one ``finagent status`` reads, which the dashboard also
shows): daily reports as a history with an equity curve, the scan's scored candidates and the
risk decisions of a session (from its ``plan`` and ``execute`` jobs), the dead jobs with their
errors, the next sessions' firings, and the daemon's ``/metrics``. Everything is read over
read-only connections or HTTP; nothing here writes and nothing here knows about a UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pendulum

from finagent.app import database
from finagent.app.daemon import KNOWN_JOB_TYPES, schedule_values
from finagent.app.exchange import exchange_calendar
from finagent.domain.jobs import Job, JobStatus
from finagent.domain.pnl import round_trips
from finagent.services.schedule_plan import compile_entries, firings_between

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from finagent.domain.jobs import QueueStats
    from finagent.domain.orders import Fill
    from finagent.domain.schedule import ClosedDay, Session
    from finagent.settings import Settings

__all__ = [
    "Decision",
    "Health",
    "HistoryRow",
    "Pipeline",
    "QueueView",
    "ScheduleDay",
    "ScoredCandidate",
    "history",
    "intraday_pnl",
    "metrics_url",
    "next_sessions",
    "parse_health",
    "pipeline",
    "queue_view",
    "read_health",
    "report_orders",
    "shown_day",
]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One session's daily report, with the equity after it and the drawdown from the peak."""

    date: str
    pnl: Decimal
    trades: int
    wins: int
    losses: int
    hit_rate: str | None
    max_drawdown: Decimal
    candidates: int
    plans: int
    approved: int
    orders: int
    equity: Decimal
    drawdown: Decimal


def history(path: Path, starting_equity: Decimal) -> list[HistoryRow]:
    """Every daily report, oldest first; equity starts at ``starting_equity``."""
    rows: list[HistoryRow] = []
    equity = peak = starting_equity
    for day, r in database.read_reports(path):
        pnl = Decimal(str(r.get("pnl", "0")))
        equity += pnl
        peak = max(peak, equity)
        rows.append(
            HistoryRow(
                day, pnl, int(r.get("trades", 0)), int(r.get("wins", 0)),
                int(r.get("losses", 0)), r.get("hit_rate"),
                Decimal(str(r.get("max_drawdown", "0"))), int(r.get("candidates", 0)),
                int(r.get("plans", 0)), int(r.get("approved", 0)), len(r.get("orders", [])),
                equity, equity - peak,
            )
        )  # fmt: skip
    return rows


def report_orders(path: Path, day: str) -> list[Mapping[str, object]]:
    """The orders a session's daily report lists (empty: no report that day)."""
    report = database.read_report(path, day)
    orders = None if report is None else report.get("orders")
    return list(orders) if isinstance(orders, list) else []


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    """A ranked candidate of the session's scan: its score and the points of each component."""

    symbol: str
    score: float
    components: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Decision:
    """Risk's decision on one plan: approved with a share count, or the rules that rejected it."""

    symbol: str
    side: str
    approved: bool
    quantity: int
    rules: tuple[str, ...]
    detail: str


@dataclass(frozen=True, slots=True)
class Pipeline:
    """One session's scan-to-risk trail, from its ``plan`` and ``execute`` jobs."""

    day: date
    candidates: Sequence[ScoredCandidate]
    decisions: Sequence[Decision]


def pipeline(path: Path, day: date) -> Pipeline:
    """The scored candidates and risk decisions of session ``day`` (empty before the scan)."""
    iso = day.isoformat()
    key = f"plan:{iso}"
    plans = [j for j in database.jobs_with_key_prefix(path, key) if j.key == key]
    scores = plans[-1].payload.get("scores", []) if plans else []
    candidates = [
        ScoredCandidate(str(s["symbol"]), float(s["score"]), dict(s["components"]))
        for s in scores
        if isinstance(s, dict)
    ]
    decisions = [_decision(j) for j in database.jobs_with_key_prefix(path, f"execute:{iso}:")]
    return Pipeline(day, candidates, decisions)


def _decision(job: Job) -> Decision:
    p = job.payload
    plan = p.get("plan") if isinstance(p.get("plan"), dict) else {}
    assert isinstance(plan, dict)  # narrowed above; mypy cannot follow .get twice
    reasons = [r for r in p.get("reasons", []) if isinstance(r, dict)]
    return Decision(
        symbol=job.key.rsplit(":", 1)[-1],
        side=str(plan.get("side", "")),
        approved=bool(p.get("approved")),
        quantity=int(p.get("quantity", 0)),
        rules=tuple(str(r.get("code")) for r in reasons),
        detail="; ".join(str(r.get("detail")) for r in reasons),
    )


def shown_day(path: Path, today: date) -> date:
    """The session the Today page shows: today once it has a scan, else the latest reported one.

    On a weekend or before the pre-market scan, the last session is more use than an empty page.
    """
    if database.jobs_with_key_prefix(path, f"score:{today.isoformat()}"):
        return today
    latest = database.latest_report_date(path)
    return today if latest is None else date.fromisoformat(latest)


def intraday_pnl(fills: Sequence[Fill]) -> list[tuple[datetime, Decimal]]:
    """Realized P&L through the day: 0 at the first fill, then the running sum at each close."""
    trips = sorted(round_trips(fills), key=lambda t: t.closed_at)
    if not trips:
        return []
    total = Decimal(0)
    out: list[tuple[datetime, Decimal]] = [(min(f.at for f in fills), total)]
    for trip in trips:
        total += trip.net
        out.append((trip.closed_at, total))
    return out


@dataclass(frozen=True, slots=True)
class QueueView:
    """Counts by type and status, the oldest pending job's age, and the newest dead jobs."""

    counts: Mapping[str, Mapping[str, int]]
    oldest_pending_age_s: float | None
    dead: Sequence[Job]


def queue_view(path: Path, now: float, *, dead_limit: int = 50) -> QueueView:
    """The SQLite queue at ``now`` (the daemon's clock); ``dead_limit`` newest dead jobs."""
    stats: QueueStats = database.queue_stats(path, now)
    counts: dict[str, dict[str, int]] = {}
    for (job_type, status), n in sorted(stats.counts.items()):
        counts.setdefault(job_type, {s.value: 0 for s in JobStatus})[status.value] = n
    dead = database.list_jobs(path, status=JobStatus.DEAD, limit=dead_limit)
    return QueueView(counts, stats.oldest_pending_age_s, dead)


@dataclass(frozen=True, slots=True)
class ScheduleDay:
    """A session (with every entry's firing) or a weekday the exchange is closed."""

    date: date
    session: Session | None
    closed: ClosedDay | None
    firings: Sequence[tuple[str, str, datetime]]  # entry, job type, fire time (UTC)


def next_sessions(settings: Settings, now: datetime, count: int = 10) -> list[ScheduleDay]:
    """The next ``count`` sessions from ``now``'s exchange date, holidays in between marked."""
    ex = settings.exchange
    calendar = exchange_calendar(ex.calendar)
    first = pendulum.instance(now).in_tz(ex.timezone).date()
    sessions = calendar.sessions(first, first + timedelta(days=count * 2 + 14))[:count]
    if not sessions:  # pragma: no cover - calendars end centuries away
        return []
    last = sessions[-1].date
    entries = compile_entries(
        schedule_values(settings), known_job_types=KNOWN_JOB_TYPES, exchange_tz=ex.timezone
    )
    start = pendulum.datetime(first.year, first.month, first.day, tz=ex.timezone)
    end = pendulum.datetime(last.year, last.month, last.day, tz=ex.timezone).add(days=1)
    firings = firings_between(entries, calendar, start - timedelta(microseconds=1), end)
    days: dict[date, ScheduleDay] = {
        s.date: ScheduleDay(s.date, s, None, [
            (f.entry.name, f.entry.job_type, f.fire_time) for f in firings
            if f.session_date == s.date
        ])
        for s in sessions
    }  # fmt: skip
    for c in calendar.closed_days(first, last):
        days[c.date] = ScheduleDay(c.date, None, c, [])
    return [days[d] for d in sorted(days)]


@dataclass(frozen=True, slots=True)
class Health:
    """The daemon's actors (up, restarts) and event-loop lag, from its ``/metrics``."""

    actors: Mapping[str, tuple[bool, int]]
    loop_lag_s: float | None


def metrics_url(settings: Settings) -> str:
    """Where the daemon serves ``/metrics``; a wildcard bind is reached on loopback."""
    host = settings.metrics.host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{host}:{settings.metrics.port}/metrics"


def parse_health(text: str) -> Health:
    """Read actor up/restarts and the loop lag out of Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    up: dict[str, bool] = {}
    restarts: dict[str, int] = {}
    lag: float | None = None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            actor = s.labels.get("actor", "")
            if s.name == "finagent_actor_up":
                up[actor] = s.value >= 1
            elif s.name == "finagent_actor_restarts_total":
                restarts[actor] = int(s.value)
            elif s.name == "finagent_event_loop_lag_seconds":
                lag = s.value
    names = sorted(set(up) | set(restarts))
    return Health({n: (up.get(n, False), restarts.get(n, 0)) for n in names}, lag)


def read_health(url: str, *, get: Callable[[str], str] | None = None) -> Health | str:
    """The daemon's health from ``url``, or one line saying why it cannot be read."""
    import httpx

    def fetch(u: str) -> str:
        response = httpx.get(u, timeout=1.0)
        response.raise_for_status()
        return response.text

    try:
        return parse_health((get or fetch)(url))
    except (httpx.HTTPError, ValueError) as exc:
        return f"the daemon's /metrics at {url} is not reachable ({type(exc).__name__}: {exc})"

"""Trading commands: ``simulate``, ``scan``, ``report``, ``halt`` and ``resume``.

Mounted by ``finagent.cli`` lazily. Each command parses, loads settings, and calls one thing.
"""

from __future__ import annotations

import json as jsonlib
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from finagent.cli.common import EXIT_UNAVAILABLE, die, load, nested, one_line_errors

if TYPE_CHECKING:
    from finagent.ports.calendar import ExchangeCalendar

__all__ = ["halt", "report", "resume", "scan", "simulate"]

ConfigOpt = Annotated[Path | None, Parameter(name="--config", help="settings file")]
DbOpt = Annotated[Path | None, Parameter(help="SQLite database path (db_path)")]


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        die(f"--date {value!r}: expected YYYY-MM-DD")


def _calendar(name: str) -> ExchangeCalendar:
    from finagent.app.exchange import exchange_calendar

    return exchange_calendar(name)


def simulate(
    *,
    date: Annotated[str | None, Parameter(help="session date (default: the next session)")] = None,
    symbols: Annotated[int | None, Parameter(help="universe size (sim.symbols)")] = None,
    seed: Annotated[int | None, Parameter(help="market seed (sim.seed)")] = None,
    speed: Annotated[str, Parameter(help="max, or N times real time")] = "max",
    crash_rate: Annotated[float, Parameter(help="chance a service crashes per job")] = 0.0,
    db: DbOpt = None,
    json: bool = False,
    config: ConfigOpt = None,
) -> None:
    """Run the daemon on the simulated market for one session in virtual time; print a report."""
    from finagent.app.simulate import SimulationError, find_session, run_simulation, today_utc

    day = _parse_date(date)
    rate: float | None = None
    if speed != "max":
        try:
            rate = float(speed)
        except ValueError:
            die(f"--speed {speed!r}: expected max or a number")
        if not rate > 0:
            die("--speed must be > 0")
    if not 0 <= crash_rate < 1:
        die("--crash-rate must be in [0, 1)")
    with tempfile.TemporaryDirectory(prefix="finagent-sim-") as tmp:
        path = db or Path(tmp) / "sim.db"
        overrides = nested(
            {
                "db_path": str(path),
                "sim.symbols": symbols,
                "sim.seed": seed,
                "metrics.enabled": False,
            }
        )
        settings = load(config, overrides).settings
        chosen = (settings.feed, settings.broker, settings.queue_backend)
        if chosen != ("sim", "paper", "sqlite"):
            die(
                "simulate runs on feed sim, broker paper and queue_backend sqlite only "
                f"(settings say feed {chosen[0]}, broker {chosen[1]}, queue_backend {chosen[2]})"
            )
        from finagent.observability import configure_logging

        configure_logging(settings.log.format, "WARNING", sys.stderr)
        try:
            session = find_session(_calendar(settings.exchange.calendar), day, today_utc())
        except SimulationError as exc:
            die(str(exc))
        # The progress line redraws itself with \r: only on a terminal, never into a pipe.
        progress = not json and sys.stderr.isatty()
        from finagent.domain.errors import StorageError

        with one_line_errors(StorageError):
            result = run_simulation(
                settings, session, speed=rate, crash_rate=crash_rate, progress=progress
            )
    if json:
        print(jsonlib.dumps(result, sort_keys=True))
    else:
        print(format_report(result))


def format_report(r: dict[str, Any]) -> str:
    """A daily report as text."""
    lines = [
        f"session {r['date']}  seed {r.get('seed', '-')}  symbols {r.get('symbols', '-')}",
        f"candidates {r['candidates']}  plans {r['plans']}  approved {r['approved']}"
        f"  rejected {r['rejected'] or '{}'}",
        f"orders {len(r['orders'])}  fills {r['fills']}  trades {r['trades']}"
        f"  (won {r['wins']}, lost {r['losses']})  P&L {r['pnl']}",
    ]
    for o in r["orders"]:
        lines.append(
            f"  {o['client_order_id']:<48} {o['side']:<5} {o['qty']:>6} {o['symbol']:<6}"
            f" entry {o['entry']:>8} stop {o['stop']:>8} target {o['target']:>8}  {o['status']}"
        )
    lines.append(f"open positions {len(r['open_positions'])}")
    if "lost_jobs" in r:
        lat = r["job_latency_ms"]
        lines.append(
            f"jobs lost {r['lost_jobs']}  duplicate orders {r['duplicate_orders']}"
            f"  actor restarts {r['restarts']}  job latency p50 {lat['p50']} ms"
            f" p99 {lat['p99']} ms  wall {r['wall_s']} s"
        )
    return "\n".join(lines)


def scan(
    *,
    once: bool = True,
    at: Annotated[str | None, Parameter(help="ISO time to scan as of (default: now)")] = None,
    json: bool = False,
    config: ConfigOpt = None,
) -> None:
    """Scan the configured feed once and print the candidates with their score components."""
    import trio

    from finagent.app.scan import scan_once
    from finagent.domain.errors import ConfigError, MarketDataError
    from finagent.services.scoring import scored_to_json

    if not once:
        die("scan: only --once is supported (the daemon scans on its schedule)")
    settings = load(config).settings
    try:
        when = datetime.fromisoformat(at) if at else datetime.now(UTC)
    except ValueError:
        die(f"--at {at!r}: expected an ISO time")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    with one_line_errors(ConfigError, MarketDataError):
        ranked = [scored_to_json(x) for x in trio.run(scan_once, settings, when)]
    if json:
        print(jsonlib.dumps({"at": when.isoformat(), "candidates": ranked}))
        return
    print(f"{len(ranked)} candidate(s) as of {when.isoformat()}")
    names = ("gap", "rvol", "volume", "catalyst", "strength")
    print(f"{'symbol':<7}{'score':>7}" + "".join(f"{n:>10}" for n in names))
    for row in ranked:
        parts = "".join(f"{row['components'][n]:>10.2f}" for n in names)
        print(f"{row['symbol']:<7}{row['score']:>7.2f}{parts}")


def report(
    *,
    date: Annotated[str | None, Parameter(help="session date (default: the latest)")] = None,
    db: DbOpt = None,
    json: bool = False,
    config: ConfigOpt = None,
) -> None:
    """Print a stored daily report."""
    from finagent.app import database
    from finagent.domain.errors import StorageError

    settings = load(config, nested({"db_path": str(db) if db else None})).settings
    day = _parse_date(date)
    try:
        if day is None:
            latest = database.latest_report_date(settings.db_path)
            if latest is None:
                die(f"{settings.db_path}: no daily report yet")
            day = date_from(latest)
        found = database.read_report(settings.db_path, day.isoformat())
    except StorageError as exc:
        die(str(exc))
    if found is None:
        die(f"{settings.db_path}: no daily report for {day.isoformat()}")
    print(jsonlib.dumps(found, sort_keys=True) if json else format_report(dict(found)))


def date_from(text: str) -> date:
    """An ISO date."""
    return date.fromisoformat(text)


def _set_state(state: str, flatten: bool, db: Path | None, config: Path | None) -> None:
    """The kill switch through the control path; exit 0 only when a daemon acknowledged it."""
    from finagent.app import control
    from finagent.domain.errors import StorageError

    settings = load(config, nested({"db_path": str(db) if db else None})).settings
    wait_s = control.ACK_WAIT_S
    with one_line_errors(StorageError):
        result = control.request_state(settings.db_path, state, flatten=flatten, wait_s=wait_s)
    ok, line = control.describe(
        result, state, flatten=flatten, display_tz=settings.exchange.display_timezone,
        wait_s=wait_s,
    )  # fmt: skip
    print(line)
    if not ok:
        raise SystemExit(EXIT_UNAVAILABLE)


def halt(
    *,
    flatten: Annotated[bool, Parameter(help="also close every position now")] = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Stop new entries at once (trading state HALTED); with --flatten also close everything.

    Exit 0: the running daemon applied it; 3: stored, but no daemon applied it (none runs, or
    it did not answer within 5 s); 2: no such database (nothing is created) or bad input.
    """
    _set_state("halted", flatten, db, config)


def resume(*, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Allow new entries again (trading state ACTIVE); exit codes as for ``halt``."""
    _set_state("active", False, db, config)

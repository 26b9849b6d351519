"""The ``finagent`` command line: parse → settings → run. Commands stay short."""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import App, Parameter

from finagent import __version__
from finagent.cli.boundary import error_console, format_parse_error, run
from finagent.cli.common import daemon_errors, die, load, nested, one_line_errors
from finagent.settings import Settings, redacted_dump

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["app", "main"]

app = App(
    name="finagent",
    version=__version__,
    help="An intraday gap-trading agent run as a supervised daemon.",
    # A bad flag is one line on stderr and exit 2, like every other user error.
    error_console=error_console(),
    error_formatter=format_parse_error,
)
config_app = App(name="config", help="Show or check the effective settings.")
app.command(config_app)
# Sub-apps are imported lazily by name so `finagent --help` stays fast (no pandas import).
app.command(
    "finagent.cli.schedule:schedule_app",
    name="schedule",
    help="Next fire times of every schedule entry, holidays and early closes marked.",
)
app.command(
    "finagent.cli.queue:queue_app",
    name="queue",
    help="Inspect and repair the job queue (read-only while the daemon runs).",
)
app.command(
    "finagent.cli.trading:simulate",
    name="simulate",
    help="Run the real daemon on the simulated market in virtual time and print the day's report.",
)
app.command(
    "finagent.cli.backtest:backtest",
    name="backtest",
    help="Replay recorded sessions through the daemon; per-day table, summary, HTML report.",
)
app.command(
    "finagent.cli.data:data_app",
    name="data",
    help="Download, import or export market data for backtests (the replay store).",
)
app.command(
    "finagent.cli.trading:scan",
    name="scan",
    help="Run one scan now on the configured feed and print the candidates.",
)
app.command(
    "finagent.cli.trading:report",
    name="report",
    help="Show the daily report stored in the database.",
)
app.command(
    "finagent.cli.trading:halt",
    name="halt",
    help="Halt trading (optionally flatten); says whether the running daemon applied it.",
)
app.command("finagent.cli.trading:resume", name="resume", help="Resume trading after a halt.")
app.command(
    "finagent.cli.status:status",
    name="status",
    help="Whether a daemon runs, trading state, session, next firings, book and queue.",
)
app.command(
    "finagent.cli.dashboard:dashboard",
    name="dashboard",
    help="Serve the web dashboard (the dashboard extra): today, history, queue, schedule, health.",
)
app.command(
    "finagent.cli.worker:worker",
    name="worker",
    help="Run some service actors (--services scoring,planner) on the shared Redis queue.",
)
app.command(
    "finagent.cli.notify:notify_app",
    name="notify",
    help="Notifications: send a test message to each destination.",
)
app.command(
    "finagent.cli.doctor:doctor_app",
    name="doctor",
    help="Check broker connectivity, keys, clock skew and the calendar.",
)

ConfigOpt = Annotated[
    Path | None,
    Parameter(name="--config", help="settings file (default: $FINAGENT_CONFIG, ./settings.yaml)"),
]


@config_app.command
def show(*, config: ConfigOpt = None, json: bool = False) -> None:
    """Print the effective settings with the source of each value; secrets redacted."""
    loaded = load(config)
    data = redacted_dump(loaded.settings)
    if json:
        print(jsonlib.dumps({"settings": data, "sources": dict(loaded.sources)}, indent=2))
        return
    print(f"# config file: {loaded.config_file or '(none: embedded defaults)'}")
    for key, value in _flatten(data).items():
        print(f"{key} = {jsonlib.dumps(value)}  # {loaded.sources.get(key, 'default')}")


@config_app.command
def check(*, config: ConfigOpt = None) -> None:
    """Validate the settings (and the schedule); exit 2 with the reason if they are wrong."""
    loaded = load(config)
    _validate_runtime(loaded.settings)
    print(f"ok: {loaded.config_file or 'embedded defaults'}")


@app.command
def up(
    *,
    config: ConfigOpt = None,
    db: Annotated[Path | None, Parameter(help="SQLite database path (db_path)")] = None,
    speed: Annotated[float | None, Parameter(help="simulated market speed-up (sim feed)")] = None,
    start: Annotated[
        str | None, Parameter(help="ISO time the simulated timeline starts at")
    ] = None,
    at: Annotated[list[str] | None, Parameter(help="override a schedule entry: NAME=SPEC")] = None,
    log_format: Annotated[str | None, Parameter(help="console | json | auto")] = None,
    log_level: Annotated[str | None, Parameter(help="DEBUG | INFO | WARNING | ERROR")] = None,
    metrics_port: Annotated[int | None, Parameter(help="port for /metrics and health")] = None,
    services: Annotated[
        str | None, Parameter(help="run only these stages, e.g. scanner,reporter (Redis backend)")
    ] = None,
    reset_timeline: Annotated[
        bool, Parameter(help="drop the stored sim timeline so --speed/--start apply")
    ] = False,
) -> None:
    """Start the daemon and run until SIGINT/SIGTERM (a second signal forces the exit)."""
    overrides = nested(
        {
            "db_path": db,
            "sim.speed": speed,
            "sim.start": start,
            "log.format": log_format,
            "log.level": log_level,
            "metrics.port": metrics_port,
        }
    )
    loaded = load(config, overrides)
    settings = loaded.settings
    _validate_runtime(settings, at or ())
    names: tuple[str, ...] | None = None
    if services is not None:
        from finagent.cli.worker import parse_services

        with one_line_errors(ValueError):
            names = parse_services(services)
        if settings.queue_backend != "redis":
            die("--services needs queue_backend: redis (on SQLite one daemon runs every stage)")
    from finagent.app import run_daemon_blocking
    from finagent.cli.timeline import check_timeline

    with daemon_errors():
        check_timeline(loaded, reset=reset_timeline)
        code = run_daemon_blocking(settings, at_overrides=tuple(at or ()), services=names)
    raise SystemExit(code)


def _validate_runtime(settings: Settings, at: Sequence[str] = ()) -> None:
    """Checks that need more than the settings model (zones, calendars, schedule, ``--at``)."""
    from finagent.app import StartupError, validate

    try:
        validate(settings, at)
    except StartupError as exc:
        die(str(exc))


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def main() -> None:
    """Console-script entry point: errors are one line, a closed stdout ends quietly."""
    run(app, sys.argv[1:])

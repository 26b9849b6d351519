"""``finagent worker --services scoring,planner``: run only some service actors, on Redis.

A worker process claims jobs of its services' types from the shared Redis queue, runs them and
completes them there. It never runs the scheduler: ``finagent up`` does, under a leader lock.
"""

from __future__ import annotations

from pathlib import Path  # noqa: TC003 - cyclopts resolves annotations at run time
from typing import Annotated

from cyclopts import Parameter

from finagent.cli.common import daemon_errors, die, load, nested

__all__ = ["SERVICES", "parse_services", "worker"]

#: service actor names a worker may run (the stages of the pipeline)
SERVICES = ("scanner", "scoring", "planner", "risk", "execution", "reporter", "notifier")


def parse_services(text: str) -> tuple[str, ...]:
    """``"scoring, planner"`` -> ``("scoring", "planner")``; ``all`` names every service.

    Raises:
        ValueError: an empty list or an unknown name (the message lists the known ones).
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return SERVICES
    unknown = [n for n in names if n not in SERVICES]
    if not names or unknown:
        what = f"unknown service(s) {', '.join(unknown)}" if unknown else "no service named"
        raise ValueError(f"--services: {what}; choose from {', '.join(SERVICES)} or all")
    return tuple(dict.fromkeys(names))


def worker(
    *,
    services: Annotated[str, Parameter(help="comma-separated: " + ",".join(SERVICES) + " | all")],
    config: Annotated[Path | None, Parameter(name="--config", help="settings file")] = None,
    log_format: Annotated[str | None, Parameter(help="console | json | auto")] = None,
    log_level: Annotated[str | None, Parameter(help="DEBUG | INFO | WARNING | ERROR")] = None,
    metrics_port: Annotated[int | None, Parameter(help="port for /metrics and health")] = None,
) -> None:
    """Run the named service actors against the shared Redis queue until SIGINT/SIGTERM."""
    try:
        names = parse_services(services)
    except ValueError as exc:
        die(str(exc))
    overrides = nested(
        {"log.format": log_format, "log.level": log_level, "metrics.port": metrics_port}
    )
    settings = load(config, overrides).settings
    if settings.queue_backend != "redis":
        die("finagent worker needs queue_backend: redis (one SQLite file has one writer)")
    from finagent.app import run_worker_blocking

    with daemon_errors():
        code = run_worker_blocking(settings, names)
    raise SystemExit(code)

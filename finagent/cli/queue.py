"""``finagent queue``: inspect and repair the job queue, also while the daemon runs.

Reads use a read-only connection (``mode=ro``). Writes (``retry``, ``purge``) are short
``BEGIN IMMEDIATE`` transactions under the busy timeout, never upgrades of a read.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import App, Parameter

from finagent.app import database
from finagent.cli.common import die, load, one_line_errors
from finagent.domain.errors import StorageError
from finagent.domain.jobs import JobStatus  # noqa: TC001 - cyclopts reads the annotations at run time

if TYPE_CHECKING:
    from finagent.domain.jobs import Job

__all__ = ["parse_duration", "queue_app"]

queue_app = App(name="queue", help="Inspect and repair the durable job queue.")

ConfigOpt = Annotated[Path | None, Parameter(name="--config", help="settings file")]
DbOpt = Annotated[Path | None, Parameter(name="--db", help="SQLite database (default: db_path)")]
JsonOpt = Annotated[bool, Parameter(name="--json", negative=(), help="print JSON")]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``12h``, ``7d``, ``2w`` (or plain seconds) → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise ValueError(f"bad duration {text!r}: use e.g. 90s, 15m, 12h, 7d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _db(db: Path | None, config: Path | None) -> Path:
    if db is not None:
        return db
    settings = load(config).settings
    return Path(settings.db_path)


def _busy_ms(config: Path | None) -> int:
    return load(config).settings.sqlite.busy_timeout_ms


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id, "type": job.type, "key": job.key, "status": job.status.value,
        "attempts": job.attempts, "max_attempts": job.max_attempts, "payload": dict(job.payload),
        "run_at": _iso(job.run_at), "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at), "lease_owner": job.lease_owner,
        "lease_until": _iso(job.lease_until), "finished_at": _iso(job.finished_at),
        "last_error": job.last_error, "parent_id": job.parent_id,
    }  # fmt: skip


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


@queue_app.command
def stats(*, db: DbOpt = None, config: ConfigOpt = None, json: JsonOpt = False) -> None:
    """Counts by type and status, and the age of the oldest due pending job."""
    with one_line_errors(StorageError):
        path = _db(db, config)
        result = database.queue_stats(path, database.daemon_now(path, time.time()))
    rows = [
        {"type": t, "status": s.value, "count": n} for (t, s), n in sorted(result.counts.items())
    ]
    if json:
        _print_json({"counts": rows, "oldest_pending_age_s": result.oldest_pending_age_s})
        return
    print(f"{'TYPE':<20} {'STATUS':<8} {'COUNT':>8}")
    for row in rows:
        print(f"{row['type']:<20} {row['status']:<8} {row['count']:>8}")
    age = result.oldest_pending_age_s
    print(f"oldest pending: {'-' if age is None else f'{age:.1f} s'}")


@queue_app.command(name="ls")
def ls(
    *,
    status: Annotated[JobStatus | None, Parameter(help="pending|running|done|dead")] = None,
    type: Annotated[str | None, Parameter(help="job type")] = None,
    limit: int = 50,
    db: DbOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    with one_line_errors(StorageError):
        found = database.list_jobs(_db(db, config), status=status, job_type=type, limit=limit)
    if json:
        _print_json([_job_dict(j) for j in found])
        return
    print(f"{'ID':>8} {'TYPE':<14} {'STATUS':<8} {'TRY':>5} {'RUN_AT':<25} KEY")
    for j in found:
        tries = f"{j.attempts}/{j.max_attempts}"
        print(f"{j.id:>8} {j.type:<14} {j.status.value:<8} {tries:>5} {_iso(j.run_at):<25} {j.key}")


@queue_app.command
def show(
    job_id: int, /, *, db: DbOpt = None, config: ConfigOpt = None, json: JsonOpt = False
) -> None:
    """Show one job with its payload and last error."""
    with one_line_errors(StorageError):
        path = _db(db, config)
        job = database.read_job(path, job_id)
    if job is None:
        die(f"{path}: no job {job_id}")
    data = _job_dict(job)
    if json:
        _print_json(data)
        return
    for key, value in data.items():
        if key not in ("payload", "last_error"):
            print(f"{key:<13} {value}")
    print(f"{'payload':<13} {json_dumps(data['payload'])}")
    if job.last_error:
        print("last_error:")
        print(job.last_error)


def json_dumps(value: object) -> str:
    """Compact JSON for one line of output."""
    return json.dumps(value, separators=(",", ":"))


@queue_app.command
def retry(
    job_id: int | None = None,
    /,
    *,
    dead: Annotated[bool, Parameter(negative=(), help="retry every dead job")] = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Move a dead (or stuck) job, or ``--dead`` every dead job, back to pending."""
    if (job_id is None) == (not dead):
        die("give a job ID or --dead (not both)")
    with one_line_errors(StorageError):
        path = _db(db, config)
        # the daemon's clock: on a simulated timeline a job's times are virtual
        now = database.daemon_now(path, time.time())
        done = database.requeue(path, job_id, busy_timeout_ms=_busy_ms(config), now=now)
    if job_id is not None and not done:
        die(f"job {job_id} is missing or not dead/running")
    if json:
        _print_json({"requeued": done})
    else:
        print(f"requeued {len(done)} job(s)")


@queue_app.command
def purge(
    *,
    done_older_than: Annotated[str, Parameter(help="age, e.g. 7d, 12h")],
    db: DbOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Delete done jobs finished longer ago than the given age (dead jobs stay)."""
    try:
        seconds = parse_duration(done_older_than)
    except ValueError as exc:
        die(str(exc))
    with one_line_errors(StorageError):
        path = _db(db, config)
        now = database.daemon_now(path, time.time())
        deleted = database.purge_done(path, seconds, busy_timeout_ms=_busy_ms(config), now=now)
    if json:
        _print_json({"purged": deleted})
    else:
        print(f"purged {deleted} done job(s)")

"""``python -m benchmarks NAME``: actors, queue, scan, soak, integrity, dashboard, backtest."""

from __future__ import annotations

import json as jsonlib
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from cyclopts import App, Parameter

__all__ = ["bench_app", "main"]

bench_app = App(name="python -m benchmarks", help="Measure the runtime, the queue and the scan.")


@bench_app.command
def actors(
    *,
    messages: int = 100_000,
    asks: int = 20_000,
    json: bool = False,
) -> None:
    """Messages/s through a 4-actor chain, ask round-trip, crash-to-restart latency."""
    from benchmarks.actors_bench import format_actors_bench, run_actors_bench

    result = run_actors_bench(messages=messages, asks=asks)
    print(jsonlib.dumps(result) if json else format_actors_bench(result))


@bench_app.command
def queue(
    *,
    jobs: int = 50_000,
    producers: int = 16,
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    backend: Literal["sqlite", "redis"] = "sqlite",
    db_dir: Annotated[Path | None, Parameter(help="where the bench databases go")] = None,
    config: Annotated[Path | None, Parameter(name="--config", help="settings (redis.url)")] = None,
    json: bool = False,
) -> None:
    """Enqueue and full-cycle throughput, publish latency at 1,000 jobs/s and at saturation."""
    from benchmarks.queue_bench import format_queue_bench, run_queue_bench

    if backend == "redis":
        _redis_queue_bench(jobs, producers, db_dir, config, json)
        return
    with tempfile.TemporaryDirectory(dir=db_dir) as tmp:
        result = run_queue_bench(
            jobs=jobs, producers=producers, synchronous=synchronous, db_dir=Path(tmp)
        )
    print(jsonlib.dumps(result) if json else format_queue_bench(result))


def _redis_queue_bench(
    jobs: int, producers: int, db_dir: Path | None, config: Path | None, json: bool
) -> None:
    """Redis side by side with SQLite and rq; needs a running redis-server at ``redis.url``."""
    from benchmarks.queue_redis_bench import format_redis_queue_bench, run_redis_queue_bench
    from finagent.cli.common import load

    url = load(config).settings.redis.url.get_secret_value()
    with tempfile.TemporaryDirectory(dir=db_dir) as tmp:
        result = run_redis_queue_bench(
            jobs=jobs, producers=producers, url=url, sqlite_dir=Path(tmp)
        )
    print(jsonlib.dumps(result) if json else format_redis_queue_bench(result))


@bench_app.command
def scan(*, symbols: int = 10_000, runs: int = 5, threads: bool = True, json: bool = False) -> None:
    """Scan → score → plan → risk latency and loop lag through the real queue and stages.

    ``--no-threads`` runs the scan's heavy CPU on the loop (as under virtual time).
    """
    from benchmarks.scan_bench import format_scan_bench, run_scan_bench

    result = run_scan_bench(symbols=symbols, runs=runs, threads=threads)
    print(jsonlib.dumps(result) if json else format_scan_bench(result))


@bench_app.command
def integrity(
    *,
    size_mb: int = 1024,
    db_dir: Annotated[Path | None, Parameter(help="where the bench database goes")] = None,
) -> None:
    """Start-up ``PRAGMA quick_check`` time on a job database of ``size_mb`` MiB (JSON)."""
    from benchmarks.integrity_bench import run_integrity_bench

    with tempfile.TemporaryDirectory(dir=db_dir) as tmp:
        print(jsonlib.dumps(run_integrity_bench(Path(tmp), size_mb)))


@bench_app.command
def soak(
    *, sessions: int = 20, symbols: int = 1000, speed: float = 1.0, json: bool = False
) -> None:
    """RSS of one daemon process after each of ``sessions`` simulated sessions (virtual time)."""
    from benchmarks.soak_bench import format_soak_bench, run_soak_bench

    result = run_soak_bench(sessions=sessions, symbols=symbols, speed=speed)
    print(jsonlib.dumps(result) if json else format_soak_bench(result))


@bench_app.command
def dashboard(
    *,
    jobs: int = 100_000,
    runs: int = 5,
    db_dir: Annotated[Path | None, Parameter(help="where the bench database goes")] = None,
    json: bool = False,
) -> None:
    """Each dashboard page's render time over a year of history (252 reports, 100k jobs)."""
    from benchmarks.dashboard_bench import build_year, format_dashboard_bench, run_dashboard_bench

    with tempfile.TemporaryDirectory(dir=db_dir) as tmp:
        db = Path(tmp) / "finagent.db"
        counts = build_year(db, jobs=jobs)
        result = {"database": counts, **run_dashboard_bench(db, runs=runs)}
    if json:
        print(jsonlib.dumps(result))
        return
    print(f"database: {counts}")
    print(format_dashboard_bench(result))


@bench_app.command
def backtest(
    *,
    store: Annotated[Path, Parameter(help="store file; made by data export-sim when missing")],
    from_: Annotated[str, Parameter(name="--from", help="first day")] = "2024-01-01",
    to: Annotated[str, Parameter(help="last day")] = "2024-12-31",
    jobs: Annotated[tuple[int, ...], Parameter(help="--jobs values to compare")] = (1, 2),
    runs: int = 3,
    json: bool = False,
) -> None:
    """``finagent backtest`` over a year: wall, the process tree's RSS and PSS, per --jobs."""
    from datetime import date

    from benchmarks.backtest_bench import format_backtest_bench, run_backtest_bench

    result = run_backtest_bench(
        store=store, start=date.fromisoformat(from_), end=date.fromisoformat(to),
        jobs=list(jobs), runs=runs,
    )  # fmt: skip
    print(jsonlib.dumps(result) if json else format_backtest_bench(result))


def main() -> None:
    """Run the benchmark named on the command line."""
    bench_app()


if __name__ == "__main__":
    main()

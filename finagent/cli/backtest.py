"""``finagent backtest``: replay recorded sessions through the daemon; print or write a report.

Mounted by ``finagent.cli`` lazily.
"""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path  # noqa: TC003 - cyclopts reads the annotations at run time
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from finagent.cli.common import EXIT_FORCED, die, load, nested, one_line_errors

if TYPE_CHECKING:
    from finagent.app.backtest import BacktestResult

__all__ = ["backtest", "format_result"]

MAX_JOBS = 64  # a worker process per job; more than the cores only adds memory
INSTALL_HINT = "the HTML report needs plotly: pip install 'finagent[backtest]'"


def backtest(
    *,
    from_: Annotated[str, Parameter(name="--from", help="first day, YYYY-MM-DD")],
    to: Annotated[str, Parameter(help="last day, YYYY-MM-DD")],
    path: Annotated[Path | None, Parameter(help="store file (replay.path)")] = None,
    json: bool = False,
    html: Annotated[Path | None, Parameter(help="write the equity/drawdown report here")] = None,
    crash_rate: Annotated[float, Parameter(help="chance a service crashes per job")] = 0.0,
    jobs: Annotated[
        int, Parameter(help="sessions replayed at once, each in its own worker process")
    ] = 1,
    config: Annotated[Path | None, Parameter(name="--config", help="settings file")] = None,
) -> None:
    """Replay the recorded sessions from --from to --to through the daemon; print the results."""
    from datetime import date

    try:
        start, end = date.fromisoformat(from_), date.fromisoformat(to)
    except ValueError:
        die(f"--from {from_!r} / --to {to!r}: expected YYYY-MM-DD")
    if end < start:
        die("--to is before --from")
    if not 0 <= crash_rate < 1:
        die("--crash-rate must be in [0, 1)")
    if not 1 <= jobs <= MAX_JOBS:
        die(f"--jobs must be from 1 to {MAX_JOBS}")
    if html is not None:
        try:
            import plotly  # noqa: F401
        except ImportError:
            die(INSTALL_HINT)
    settings = load(config, nested({"replay.path": path})).settings
    if not settings.replay.path.exists():
        die(f"no store at {settings.replay.path}: run finagent data download/import/export-sim")
    from finagent.app.backtest import html_report, run_backtest
    from finagent.domain.errors import ConfigError, MarketDataError, StorageError
    from finagent.observability import configure_logging

    configure_logging(settings.log.format, "ERROR", sys.stderr)
    from finagent.app.backtest import _stderr_progress

    progress = _stderr_progress if sys.stderr.isatty() else None
    try:
        with one_line_errors(StorageError, MarketDataError, ConfigError):
            result = run_backtest(
                settings, start, end, crash_rate=crash_rate, jobs=jobs, progress=progress
            )
    except* KeyboardInterrupt:  # Trio may wrap it in a group
        if progress is not None:
            print(file=sys.stderr)
        die("backtest interrupted: no report written", EXIT_FORCED)
    if progress is not None:
        print(file=sys.stderr)
    if html is not None:
        html_report(result, html)
    if json:
        print(jsonlib.dumps(result.as_json(), sort_keys=True))
    else:
        print(format_result(result))
        if html is not None:
            print(f"report: {html}")


def format_result(result: BacktestResult) -> str:
    """The per-day table and the summary as text."""
    s: dict[str, Any] = result.as_json()
    lines = [f"{'date':<10}  {'orders':>6}  {'trades':>6}  {'net P&L':>12}"]
    lines += [
        f"{d['date']:<10}  {len(d['orders']):>6}  {d['trades']:>6}  {d['net_pnl']:>12}"
        for d in s["days"]
    ]
    lines += [f"{k['date']:<10}  skipped: {k['reason']}" for k in s["skipped"]]
    lines.append(
        f"sessions {s['sessions']}  skipped {len(s['skipped'])}  trades {s['trades']}"
        f"  hit rate {s['hit_rate'] or '-'}  net P&L {s['net_pnl']}"
        f"  max drawdown {s['max_drawdown']}"
    )
    lines.append(
        f"Sharpe {s['sharpe'] if s['sharpe'] is not None else '-'}"
        f"  Sortino {s['sortino'] if s['sortino'] is not None else '-'}"
        f"  profit factor {s['profit_factor'] if s['profit_factor'] is not None else '-'}"
        f"  average exposure {s['average_exposure']:.2%}  wall {result.wall_s} s"
    )
    return "\n".join(lines)

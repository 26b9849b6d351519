"""``finagent data``: fill the recorded market-data store (``export-sim``, ``import``).

Mounted by ``finagent.cli`` lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

from cyclopts import App, Parameter

from finagent.cli.common import die, load, nested, one_line_errors
from finagent.domain.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["data_app", "progress_line"]

data_app = App(name="data", help="Download, import or export market data for backtests.")

ConfigOpt = Annotated[Path | None, Parameter(name="--config", help="settings file")]
PathOpt = Annotated[Path | None, Parameter(help="store file (replay.path)")]


def _day(value: str, flag: str) -> object:
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        die(f"{flag} {value!r}: expected YYYY-MM-DD")


@data_app.command(name="export-sim")
def export_sim(
    *,
    date: Annotated[
        list[str], Parameter(help="session date(s), YYYY-MM-DD", consume_multiple=True)
    ],
    symbols: Annotated[int | None, Parameter(help="universe size (sim.symbols)")] = None,
    seed: Annotated[int | None, Parameter(help="market seed (sim.seed)")] = None,
    path: PathOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write the simulator's day(s) into the store, as a recorded day would be."""
    from datetime import date as date_t

    from finagent.app.data import DataError
    from finagent.app.data import export_sim as run_export

    days = [_day(d, "--date") for d in date]
    overrides = nested({"sim.symbols": symbols, "sim.seed": seed, "replay.path": path})
    settings = load(config, overrides).settings
    with one_line_errors(DataError, ConfigError):
        for day in days:
            assert isinstance(day, date_t)
            r = run_export(settings, day, settings.replay.path)
            print(
                f"{r.day}: {r.universe} symbols, {r.replayed} with minute bars"
                f" ({r.bars} bars, {r.headlines} headlines) -> {settings.replay.path}"
            )


@data_app.command(name="import")
def import_(
    *,
    csv: Annotated[Path, Parameter(help="folder of CSV files (daily*.csv and minute files)")],
    path: PathOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Import daily and minute bars from CSV files (layout in docs/backtest.md)."""
    from finagent.app.data import DataError, import_csv

    if not csv.is_dir():
        die(f"--csv {csv}: not a folder")
    settings = load(config, nested({"replay.path": path})).settings
    with one_line_errors(DataError, ConfigError):
        days, bars = import_csv(settings, csv, settings.replay.path)
    print(
        f"imported {days} day(s) of daily bars and {bars} minute bar(s) -> {settings.replay.path}"
    )


def _symbols(value: str) -> list[str]:
    """``--symbols``: a file (one or more a line, ``#`` comments) if one exists, else A,B,C."""
    import re

    source = Path(value)
    text = source.read_text() if source.is_file() else value
    words = [w for line in text.splitlines() for w in re.split(r"[,\s]+", line.split("#")[0])]
    symbols = sorted({w.strip().upper() for w in words if w.strip()})
    bad = [s for s in symbols if not re.fullmatch(r"[A-Z][A-Z0-9.\-/]{0,15}", s)]
    if not symbols or bad:
        die(f"--symbols {value!r}: expected a file or a list such as AAPL,MSFT (bad: {bad[:3]})")
    return symbols


def progress_line(stream: TextIO) -> Callable[[int, int, str], None]:
    """A progress bar redrawn in place with ``\\r`` (for a terminal only)."""

    def show(done: int, total: int, label: str) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}"
        print(f"\r{bar:<70}", end="" if done < total else "\n", file=stream, flush=True)

    return show


@data_app.command(name="download")
def download(
    *,
    from_: Annotated[str, Parameter(name="--from", help="first session, YYYY-MM-DD")],
    to: Annotated[str, Parameter(help="last session, YYYY-MM-DD")],
    symbols: Annotated[
        str | None, Parameter(help="a file of symbols or a list A,B,C (default: the universe)")
    ] = None,
    path: PathOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Download daily bars, and minute bars and news of the gappers, from Alpaca (resumable)."""
    import sys
    from datetime import date as date_t

    from finagent.app.alpaca import BrokerSetupError
    from finagent.app.data import DataError
    from finagent.app.download import download as run_download
    from finagent.cli.common import EXIT_FAILED, EXIT_UNAVAILABLE
    from finagent.domain.errors import MarketDataError, MarketDataUnavailable
    from finagent.observability import configure_logging

    start, end = _day(from_, "--from"), _day(to, "--to")
    assert isinstance(start, date_t) and isinstance(end, date_t)
    if end < start:
        die("--to is before --from")
    wanted = None if symbols is None else _symbols(symbols)
    settings = load(config, nested({"replay.path": path})).settings
    # Retries are logged as warnings on stderr; the progress bar only on a terminal.
    configure_logging(settings.log.format, "WARNING", sys.stderr)
    progress = progress_line(sys.stderr) if sys.stderr.isatty() else None
    with (
        one_line_errors(MarketDataError, code=EXIT_FAILED),
        one_line_errors(MarketDataUnavailable, code=EXIT_UNAVAILABLE, hint="(re-run to resume)"),
        one_line_errors(BrokerSetupError, DataError, ConfigError),
    ):
        r = run_download(
            settings, start, end, settings.replay.path, symbols=wanted, progress=progress
        )
    print(
        f"{r.sessions} session(s), {r.symbols} symbol(s): {r.daily_bars} daily bar(s),"
        f" {r.gapped} gapper(s), {r.minute_bars} minute bar(s), {r.headlines} headline(s);"
        f" {r.skipped} piece(s) already in the store -> {settings.replay.path}"
    )

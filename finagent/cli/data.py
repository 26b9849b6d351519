"""``finagent data``: fill the recorded market-data store (``export-sim``, ``import``).

Mounted by ``finagent.cli`` lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cyclopts import App, Parameter

from finagent.cli.common import die, load, nested, one_line_errors

__all__ = ["data_app"]

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
    with one_line_errors(DataError):
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
    with one_line_errors(DataError):
        days, bars = import_csv(settings, csv, settings.replay.path)
    print(
        f"imported {days} day(s) of daily bars and {bars} minute bar(s) -> {settings.replay.path}"
    )

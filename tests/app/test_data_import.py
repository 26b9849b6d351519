"""``data import --csv``: one documented layout; a bad row is one line with file and line."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from finagent.adapters.replay.market import ReplayMarket
from finagent.adapters.replay.store import open_store
from finagent.app.exchange import exchange_calendar
from finagent.app.parts import sim_session_for
from tests.cli_helpers import clean_env
from tests.cli_helpers import run_cli as _run

__all__ = ["clean_env"]  # an autouse fixture: each test in tmp_path, no FINAGENT_*

HEADER = "symbol,timestamp,open,high,low,close,volume\n"
DAILY = HEADER + "".join(
    f"ABC,2025-01-{d:02d},{10 + i},{11 + i},{9 + i},{10.5 + i},{1000 * (i + 1)}\n"
    for i, d in enumerate((2, 3, 6, 7))
)
MINUTE = HEADER + (
    "ABC,2025-01-07T13:00:00Z,12.00,12.50,11.90,12.40,5000\n"
    "ABC,2025-01-07T13:01:00Z,12.40,12.60,12.30,12.55,3000\n"
    "ABC,2025-01-07T14:30:00Z,12.60,12.70,12.50,12.65,9000\n"
)


def _folder(tmp_path: Path, daily: str = DAILY, minute: str = MINUTE) -> Path:
    folder = tmp_path / "csv"
    folder.mkdir(exist_ok=True)
    (folder / "daily.csv").write_text(daily)
    (folder / "minute-2025-01-07.csv").write_text(minute)
    return folder


async def test_import_derives_the_scan_fields_and_replays_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_path = tmp_path / "m.db"
    code, out, _ = _run(
        ["data", "import", "--csv", str(_folder(tmp_path)), "--path", str(store_path)], capsys
    )
    assert code == 0 and "imported 4 day(s) of daily bars and 3 minute bar(s)" in out
    store = open_store(store_path)
    try:
        assert store.dates() == [date(2025, 1, 3), date(2025, 1, 6), date(2025, 1, 7)]
        row = store.daily(date(2025, 1, 7))["ABC"]
        assert row.prev_close == Decimal("12.5") and row.avg_volume == 2000.0
        market = ReplayMarket(store, sim_session_for(exchange_calendar("XNYS")))
        at = datetime(2025, 1, 7, 14, 0, tzinfo=UTC)  # 09:00 ET: two pre-market bars done
        (snap,) = await market.snapshots(["ABC", "ZZZ"], at)
        assert (snap.last, snap.premarket_high, snap.premarket_volume) == (
            Decimal("12.55"), Decimal("12.60"), 8000,
        )  # fmt: skip
        bars = await market.minute_bars("ABC", at, datetime(2025, 1, 7, 15, tzinfo=UTC))
        assert [b.close for b in bars] == [Decimal("12.65")]
        prices = await market.last_prices(["ABC"], datetime(2025, 1, 7, 15, tzinfo=UTC))
        assert prices == {"ABC": Decimal("12.65")}
    finally:
        store.close()


@pytest.mark.parametrize(
    ("minute", "needle"),
    [
        (
            "symbol,timestamp,open,high,low,close\nABC,2025-01-07T13:00:00Z,1,1,1,1\n",
            "minute-2025-01-07.csv:1: missing column(s) volume",
        ),
        (
            HEADER + "ABC,2025-01-07T13:00:00Z,1,x,1,1,5\n",
            "minute-2025-01-07.csv:2: non-numeric or non-positive price",
        ),
        (
            HEADER + "ABC,2025-01-07T13:01:00Z,1,1,1,1,5\nABC,2025-01-07T13:00:00Z,1,1,1,1,5\n",
            "minute-2025-01-07.csv:3: timestamp 2025-01-07T13:00:00+00:00 out of order",
        ),
        (
            HEADER + "ABC,2025-01-07T13:00:00Z,1,1,1,1,5\nABC,2025-01-07T13:00:00Z,1,1,1,1,5\n",
            "minute-2025-01-07.csv:3: duplicate minute",
        ),
        (HEADER + "ABC,2025-01-07T13:00:00,1,1,1,1,5\n", "csv:2: bad timestamp"),
        (HEADER + "ABC,,1,1,1,1,5\n", "csv:2: missing value for timestamp"),
    ],
)
def test_a_bad_row_is_one_line_and_nothing_is_written(
    tmp_path: Path, minute: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store_path = tmp_path / "m.db"
    _run(["data", "import", "--csv", str(_folder(tmp_path)), "--path", str(store_path)], capsys)
    before = sqlite3.connect(store_path).execute("SELECT count(*) FROM minute_bars").fetchone()
    folder = _folder(tmp_path, daily=DAILY.replace("10.5,", "10.6,"), minute=minute)
    code, _, err = _run(["data", "import", "--csv", str(folder), "--path", str(store_path)], capsys)
    (line,) = err.splitlines()
    assert code == 2 and needle in line, line
    conn = sqlite3.connect(store_path)
    assert conn.execute("SELECT count(*) FROM minute_bars").fetchone() == before
    assert conn.execute("SELECT close FROM daily WHERE date = '2025-01-02'").fetchone() == (105000,)


def test_a_store_that_is_a_folder_or_not_sqlite_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    code, _, err = _run(["data", "import", "--csv", str(folder), "--path", str(tmp_path)], capsys)
    assert (code, err) == (
        2,
        f"finagent: error: replay store {tmp_path} is a folder, not a store file\n",
    )
    foreign = tmp_path / "foreign.db"
    foreign.write_text("a spreadsheet, say\n" * 64)
    argv = ["data", "export-sim", "--date", "2025-01-06", "--symbols", "20", "--path", str(foreign)]
    code, _, err = _run(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and "not a usable store" in err
    assert foreign.read_text() == "a spreadsheet, say\n" * 64


def test_not_a_folder_or_an_empty_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["data", "import", "--csv", "nope"], capsys)
    assert code == 2 and "not a folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _run(["data", "import", "--csv", str(tmp_path / "empty")], capsys)
    assert code == 2 and "no .csv files" in err


def test_a_non_positive_price_and_a_re_import_replaces_the_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_path = tmp_path / "m.db"
    bad = _folder(tmp_path, minute=HEADER + "ABC,2025-01-07T13:00:00Z,0,1,1,1,5\n")
    code, _, err = _run(["data", "import", "--csv", str(bad), "--path", str(store_path)], capsys)
    assert code == 2 and "non-positive" in err
    for close in ("10.5", "10.7"):  # the second import replaces the first day's close
        folder = _folder(tmp_path, daily=DAILY.replace("10.5,", f"{close},"))
        code, _, _ = _run(
            ["data", "import", "--csv", str(folder), "--path", str(store_path)], capsys
        )
        assert code == 0
    conn = sqlite3.connect(store_path)
    assert conn.execute("SELECT close FROM daily WHERE date = '2025-01-02'").fetchone() == (107000,)
    assert conn.execute("SELECT prev_close FROM daily WHERE date = '2025-01-03'").fetchone() == (
        107000,
    )

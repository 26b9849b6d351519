"""``finagent data download`` against the fake Alpaca over real HTTP on 127.0.0.1.

The fake serves market data as the real API does (JSON numbers, ``limit`` across symbols,
``next_page_token``); a small page size forces several pages. Faults are injected in the fake:
a 429 with ``Retry-After``, 500s past the retry budget on one day's minute bars, a 403.
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from finagent.adapters.replay.store import open_store
from finagent.app.exchange import exchange_calendar
from finagent.cli.data import progress_line
from tests.cli_helpers import clean_env
from tests.cli_helpers import run_cli as _run
from tests.fakes.alpaca import FakeAlpacaState, running_fake_alpaca
from tests.fakes.alpaca.harness import FAST
from tests.fakes.alpaca.market import bar, utc

__all__ = ["clean_env"]  # an autouse fixture: each test in tmp_path, no FINAGENT_*

NY = ZoneInfo("America/New_York")
DAYS = [date(2025, 1, 6), date(2025, 1, 7), date(2025, 1, 8)]
GAPS = {"AAA": set(DAYS), "BBB": {DAYS[1]}, "CCC": set()}  # CCC never gaps


def _sessions() -> list[date]:
    found = exchange_calendar("XNYS").sessions(date(2024, 11, 1), DAYS[-1])
    return [s.date for s in found]


def _minute_bars(day: date, px: Decimal) -> list[dict[str, Any]]:
    """Pre-market every 10 minutes from 04:00, then every minute for 30, then every 10."""
    start = datetime.combine(day, time(4, 0), NY)
    minutes = [*range(0, 330, 10), *range(330, 360), *range(360, 720, 10)]
    return [
        bar(start + timedelta(minutes=m), str(px), str(px + Decimal("0.10")),
            str(px - Decimal("0.05")), str(px + Decimal("0.05")), 20_000)
        for m in minutes
    ]  # fmt: skip


def _state(page_size: int = 50) -> FakeAlpacaState:
    """Daily bars since November for three symbols; the gappers' minute bars and news."""
    state = FakeAlpacaState(page_size=page_size)
    for symbol, gaps in GAPS.items():
        state.assets.append({"symbol": symbol, "status": "active", "tradable": True})
        close = Decimal(10)
        daily, minutes = [], []
        for day in _sessions():
            open_ = close * Decimal("1.1") if day in gaps else close
            daily.append(bar(datetime.combine(day, time(0), NY), str(open_),
                             str(open_ + Decimal("0.3")), str(open_ - Decimal("0.2")),
                             str(open_), 1_000_000))  # fmt: skip
            if day in gaps:
                minutes += _minute_bars(day, open_)
                for k in range(2):
                    state.news.append({
                        "id": len(state.news) + 1, "headline": f"{symbol} news {k} on {day}",
                        "source": "benzinga", "symbols": [symbol], "summary": "",
                        "created_at": utc(datetime.combine(day, time(7, k), NY)),
                    })  # fmt: skip
            close = open_
        state.daily_bars[symbol] = daily
        state.bars[symbol] = minutes
    state.news.append({"id": 999, "headline": "CCC old news", "source": "x", "symbols": ["CCC"],
                       "created_at": utc(datetime(2025, 1, 7, 12, tzinfo=NY))})  # fmt: skip
    return state


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpacaState]:
    state = _state()
    with running_fake_alpaca(state) as url:
        for key, value in {"KEY_ID": state.key_id, "SECRET_KEY": state.secret_key,
                           "DATA_URL": url, "TRADING_URL": url,
                           "RATE_PER_MIN": "100000"}.items():  # fmt: skip
            monkeypatch.setenv(f"FINAGENT_ALPACA__{key}", value)
        yield state


def _download(path: Path, *extra: str) -> list[str]:
    return ["data", "download", "--from", "2025-01-06", "--to", "2025-01-08",
            "--path", str(path), *extra]  # fmt: skip


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {
            t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
            for t in ("daily", "minute_bars", "coverage", "news", "meta")
        }
    finally:
        conn.close()


def _bar_queries(state: FakeAlpacaState, timeframe: str) -> list[dict[str, str]]:
    return [q for p, q in state.queries if p == "/v2/stocks/bars" and q["timeframe"] == timeframe]


def test_pagination_fills_the_store_with_what_alpaca_serves(
    fake: FakeAlpacaState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.page_size = 3  # several pages of daily bars, minute bars and news
    path = tmp_path / "market.db"
    code, out, err = _run(_download(path, "--symbols", "aaa,BBB, CCC"), capsys)
    assert code == 0, err
    assert "3 session(s), 3 symbol(s)" in out and "4 gapper(s)" in out
    assert "0 piece(s) already in the store" in out
    store = open_store(path)
    try:
        assert store.dates() == DAYS  # the history before --from is not scan-ready
        rows = store.daily(DAYS[1])
        assert rows["AAA"].open == Decimal("12.1") and rows["AAA"].prev_close == Decimal(11)
        assert rows["CCC"].avg_volume == 1_000_000 and rows["CCC"].atr == Decimal("0.5")
        assert store.covered(DAYS[0], "minute") == {"AAA"}
        assert store.covered(DAYS[1], "minute") == store.covered(DAYS[1], "news") == {"AAA", "BBB"}
        assert store.covered(DAYS[0], "daily") == {"AAA", "BBB", "CCC"}
        day = DAYS[1]
        got = store.bars(
            "BBB", datetime.combine(day, time(4), NY), datetime.combine(day, time(16), NY)
        )
        assert len(got) == len(_minute_bars(day, Decimal(11))) and got[0].volume == 20_000
        headlines = store.news(datetime(2025, 1, 1, tzinfo=NY), datetime(2025, 2, 1, tzinfo=NY))
        assert [h.headline for h in headlines][:2] == [
            "AAA news 0 on 2025-01-06",
            "AAA news 1 on 2025-01-06",
        ]
        assert len(headlines) == 8  # CCC's headline is not fetched: CCC never gapped
    finally:
        store.close()
    minute = _bar_queries(fake, "1Min")
    assert any("page_token" in q for q in minute)
    assert any("page_token" in q for q in _bar_queries(fake, "1Day"))
    assert any(q["symbols"] == "AAA,BBB" for q in minute)  # one request for a day's gappers
    assert all(q["adjustment"] == "raw" and q["feed"] == "iex" for q in minute)
    # A re-run fetches nothing: every piece is in the ledger.
    fake.queries.clear()
    code, out, _ = _run(_download(path, "--symbols", "AAA,BBB,CCC"), capsys)
    assert code == 0 and fake.queries == [] and "17 piece(s) already in the store" in out


def test_429_waits_what_retry_after_says(
    fake: FakeAlpacaState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.inject("GET", "/v2/stocks/bars", 429, headers={"Retry-After": "0.2"})
    code, out, err = _run(_download(tmp_path / "m.db", "--symbols", "AAA"), capsys)
    assert code == 0, err
    assert "rate_limited 429 (attempt 1), sleeping 0.20s" in err
    assert "3 gapper(s)" in out


def test_an_interrupted_download_resumes_with_only_the_missing_day(
    fake: FakeAlpacaState,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("finagent.app.download.RETRY", FAST)
    last = datetime.combine(DAYS[2], time(4), NY).isoformat()
    fake.inject("GET", "/v2/stocks/bars", 500, times=100, query={"start": last})
    path = tmp_path / "market.db"
    code, _, err = _run(_download(path, "--symbols", "AAA,BBB,CCC"), capsys)
    assert code == 3
    assert err.splitlines()[-1] == (
        "finagent: error: GET /v2/stocks/bars: no answer after 4 attempt(s): server_error 500"
        " (re-run to resume)"
    )
    assert open_store(path).covered(DAYS[2], "minute") == set()
    fake.faults.clear()
    fake.queries.clear()
    code, out, err = _run(_download(path, "--symbols", "AAA,BBB,CCC"), capsys)
    assert code == 0 and "15 piece(s) already in the store" in out, err
    fetched = {(p, q.get("timeframe"), q["start"][:10]) for p, q in fake.queries}
    assert fetched == {
        ("/v2/stocks/bars", "1Min", "2025-01-08"),
        ("/v1beta1/news", None, "2025-01-07"),
    }
    fake.queries.clear()
    whole = tmp_path / "whole.db"
    code, _, _ = _run(_download(whole, "--symbols", "AAA,BBB,CCC"), capsys)
    assert code == 0 and _tables(whole) == _tables(path)


def test_a_longer_range_later_fetches_only_the_new_day(
    fake: FakeAlpacaState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "market.db"
    argv = _download(path, "--symbols", "AAA,BBB,CCC")
    code, _, _ = _run([*argv[:3], "2025-01-06", "--to", "2025-01-07", *argv[6:]], capsys)
    assert code == 0
    fake.queries.clear()
    code, _, _ = _run(argv, capsys)
    assert code == 0
    daily = _bar_queries(fake, "1Day")
    assert {(q["start"][:10], q["end"][:10]) for q in daily} == {("2024-12-06", "2025-01-08")}
    assert {q["start"][:10] for q in _bar_queries(fake, "1Min")} == {"2025-01-08"}
    whole = tmp_path / "whole.db"
    code, _, _ = _run(_download(whole, "--symbols", "AAA,BBB,CCC"), capsys)
    assert code == 0 and _tables(whole) == _tables(path)


def test_the_universe_comes_from_the_assets_and_symbols_from_a_file(
    fake: FakeAlpacaState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(_download(tmp_path / "a.db"), capsys)
    assert code == 0 and "3 symbol(s)" in out and fake.count("GET", "/v2/assets") == 1
    listing = tmp_path / "symbols.txt"
    listing.write_text("# my list\nBBB  CCC\n")
    code, out, _ = _run(_download(tmp_path / "b.db", "--symbols", str(listing)), capsys)
    assert code == 0 and "2 symbol(s)" in out and "1 gapper(s)" in out


@pytest.mark.parametrize(
    ("status", "body", "code", "line"),
    [
        (403, {"code": 40310000, "message": "subscription does not permit querying SIP"}, 1,
         "Alpaca refused GET /v2/stocks/bars: HTTP 403: subscription does not permit querying SIP"),
        (200, {"bars": {"AAA": [{"t": "2025-01-06T05:00:00Z", "o": "n/a"}]}}, 1,
         "GET /v2/stocks/bars: malformed response: AAA.bars[0].o: expected a number"),
    ],
)  # fmt: skip
def test_alpaca_refusing_or_garbling_is_one_line(
    fake: FakeAlpacaState,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: dict[str, Any],
    code: int,
    line: str,
) -> None:
    fake.inject("GET", "/v2/stocks/bars", status, body=body)
    got, _, err = _run(_download(tmp_path / "m.db", "--symbols", "AAA"), capsys)
    assert got == code
    assert err.strip().startswith(f"finagent: error: {line}") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "2025-01-06", "--to", "2025-01-05"], "--to is before --from"),
        (
            ["--from", "2025-13-01", "--to", "2025-01-05"],
            "--from '2025-13-01': expected YYYY-MM-DD",
        ),
        (["--from", "2025-01-04", "--to", "2025-01-05"], "no trading session from 2025-01-04"),
        (["--from", "2025-01-06", "--to", "2025-01-06", "--symbols", " , "], "--symbols ' , '"),
        (["--from", "2025-01-06", "--to", "2025-01-06", "--symbols", "A;B"], "--symbols 'A;B'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    fake: FakeAlpacaState, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(["data", "download", *argv], capsys)
    assert code == 2 and err.startswith(f"finagent: error: {message}") and err.count("\n") == 1


def test_a_store_path_that_is_a_folder_is_one_line_and_nothing_is_fetched(
    fake: FakeAlpacaState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(_download(tmp_path, "--symbols", "AAA"), capsys)
    assert code == 2
    assert err == f"finagent: error: replay store {tmp_path} is a folder, not a store file\n"
    assert fake.queries == []


def test_missing_keys_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["data", "download", "--from", "2025-01-06", "--to", "2025-01-06"], capsys)
    assert code == 2
    assert err == (
        "finagent: error: data download needs FINAGENT_ALPACA__KEY_ID and"
        " FINAGENT_ALPACA__SECRET_KEY\n"
    )


def test_the_progress_bar_only_on_a_terminal(
    fake: FakeAlpacaState,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    show = progress_line(stream)
    show(1, 4, "2025-01-07")
    show(4, 4, "")
    assert stream.getvalue().startswith("\r[#######.......................] 1/4 2025-01-07")
    assert stream.getvalue().endswith("\n") and "\r[" + "#" * 30 + "] 4/4" in stream.getvalue()
    code, _, err = _run(_download(tmp_path / "m.db", "--symbols", "AAA"), capsys)
    assert code == 0 and "\r[" not in err  # not a terminal: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = _run(_download(tmp_path / "n.db", "--symbols", "AAA"), capsys)
    assert code == 0 and "] 1/4 2025-01-06" in err and err.rstrip(" \n").endswith("] 4/4")


@pytest.mark.slow
def test_a_backtest_runs_over_a_downloaded_store(
    fake: FakeAlpacaState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "market.db"
    argv = ["data", "download", "--from", "2025-01-06", "--to", "2025-01-07",
            "--path", str(path), "--symbols", "AAA,BBB,CCC"]  # fmt: skip
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    argv = ["backtest", "--from", "2025-01-06", "--to", "2025-01-07", "--path", str(path), "--json"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    result = json.loads(out)
    assert [d["date"] for d in result["days"]] == ["2025-01-06", "2025-01-07"]
    assert result["skipped"] == [] and result["sessions"] == 2

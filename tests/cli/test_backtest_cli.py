"""``data export-sim`` then ``backtest``: the same orders, fills and P&L as ``simulate``.

In process, on a small universe; each round trip also runs `simulate` (seconds a session), so the
round trips are marked slow (they still run in CI).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import clean_env
from tests.cli_helpers import run_cli as _run

__all__ = ["clean_env"]  # an autouse fixture: each test in tmp_path, no FINAGENT_*

DAYS = ["2025-01-06", "2025-01-07"]
SIM = ["--symbols", "300", "--seed", "7"]


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "market.db"
    argv = ["data", "export-sim", "--path", str(path), *SIM]
    for day in DAYS:
        argv += ["--date", day]
    code, out, _ = _run(argv, capsys)
    assert code == 0 and out.count("with minute bars") == 2
    return path


@pytest.mark.slow
def test_round_trip_matches_simulate_and_crashes_change_nothing(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["backtest", "--from", "2025-01-04", "--to", DAYS[-1], "--path", str(store), "--json"]
    code, out, _ = _run(base, capsys)
    assert code == 0
    result = json.loads(out)
    assert result["sessions"] == 2 and result["skipped"] == []  # the weekend is no session
    total = 0
    for day in result["days"]:
        code, sim_out, _ = _run(["simulate", "--date", day["date"], *SIM, "--json"], capsys)
        sim = json.loads(sim_out)
        assert day["orders"] == sim["orders"] and sim["orders"]
        assert (day["fills"], day["trades"], day["net_pnl"]) == (
            sim["fills"], sim["trades"], sim["pnl"],
        )  # fmt: skip
        total += len(sim["orders"])
    assert total > 0
    code, crashed, _ = _run([*base, "--crash-rate", "0.3"], capsys)
    assert code == 0 and crashed == out  # byte for byte: no wall time in --json


@pytest.mark.slow
def test_text_table_html_report_and_skipped_days(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "report.html"
    argv = ["backtest", "--from", "2025-01-07", "--to", "2025-01-08", "--path", str(store)]
    code, out, _ = _run([*argv, "--html", str(html)], capsys)
    assert code == 0
    assert "2025-01-08  skipped: no data in the store" in out
    assert "sessions 1  skipped 1" in out and f"report: {html}" in out
    page = html.read_text()
    assert "Drawdown" in page and "plotly" in page and "cdn.plot.ly" not in page.split("<body")[0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--from", "2025-13-01", "--to", "2025-01-02"], "expected YYYY-MM-DD"),
        (["--from", "2025-01-03", "--to", "2025-01-02"], "--to is before --from"),
        (["--from", "2025-01-02", "--to", "2025-01-02", "--crash-rate", "1"], "--crash-rate"),
        (["--from", "2025-01-02", "--to", "2025-01-02", "--path", "nope.db"], "no store at"),
        (["--from", "2025-01-02", "--to", "2025-01-02", "--jobs", "0"], "--jobs must be"),
        (["--from", "2025-01-02", "--to", "2025-01-02", "--path", "."], "is a folder"),
        (["--from", "2025-01-02", "--to", "2025-01-02", "--jobs", "65"], "--jobs must be"),
    ],
)
def test_bad_input_is_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["backtest", *argv], capsys)
    (line,) = err.splitlines()
    assert code == 2 and needle in line


def test_missing_plotly_says_what_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)
    argv = ["backtest", "--from", "2025-01-02", "--to", "2025-01-02", "--html", "r.html"]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "pip install 'finagent[backtest]'" in err


def test_export_sim_refuses_a_holiday_and_a_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["data", "export-sim", "--date", "2025-01-01"], capsys)
    assert code == 2 and "not a trading session" in err
    code, _, err = _run(["data", "export-sim", "--date", "2025-01-32"], capsys)
    assert code == 2 and "expected YYYY-MM-DD" in err


@pytest.mark.slow
def test_on_a_terminal_a_progress_bar_redraws_on_stderr(tmp_path: Path, store: Path) -> None:
    """A real pseudo-terminal on stderr: the bar redraws per session, then ends its line."""
    import pty
    import subprocess

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINAGENT_")}
    done = subprocess.run(
        [sys.executable, "-m", "finagent", "backtest", "--from", DAYS[0], "--to", DAYS[0],
         "--path", str(store), "--json"],
        stdout=subprocess.PIPE, stderr=slave, env=env, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the pty's writer is gone: everything was read
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert done.returncode == 0
    text = seen.decode()
    # before the session: 0/1 and its day; after the last one: 1/1; then the line ends
    assert text == f"\r[{'.' * 30}] 0/1 {DAYS[0]}\r[{'#' * 30}] 1/1 \r\n"
    assert json.loads(done.stdout)["sessions"] == 1  # the bar never reaches stdout


@pytest.mark.slow
def test_sessions_in_worker_processes_give_the_same_bytes(tmp_path: Path, store: Path) -> None:
    """``--jobs 2`` (forked workers, a real subprocess as a user runs it) == ``--jobs 1``."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("FINAGENT_")}
    outs = []
    for jobs in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-m", "finagent", "backtest", "--from", DAYS[0], "--to", DAYS[-1],
             "--path", str(store), "--json", "--jobs", jobs],
            capture_output=True, env=env, cwd=tmp_path, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()[-800:]
        outs.append(done.stdout)
    assert outs[0] == outs[1]
    result = json.loads(outs[0])
    assert result["sessions"] == 2 and result["trades"] > 0


@pytest.mark.parametrize("terminal", [False, True])
def test_ctrl_c_is_one_line_and_exit_130(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
) -> None:
    """On a terminal the progress bar's line is ended first, so the error has its own line."""
    import finagent.app.backtest as bt

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bt, "run_backtest", interrupted)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    (tmp_path / "m.db").touch()
    argv = ["backtest", "--from", DAYS[0], "--to", DAYS[0], "--path", "m.db", "--json"]
    code, out, err = _run(argv, capsys)
    assert (code, out) == (130, "")
    line = "finagent: error: backtest interrupted: no report written\n"
    assert err == ("\n" + line if terminal else line)

"""``finagent doctor`` against the fake Alpaca on 127.0.0.1: ok lines, and each FAIL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from finagent.adapters.alpaca.http import alpaca_headers
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.app.doctor import NOTHING_TO_CHECK, SAMPLE, doctor, run_checks
from finagent.cli.doctor import doctor_command
from finagent.settings import Settings, load_settings
from tests.fakes.alpaca import FakeAlpacaState, running_fake_alpaca
from tests.fakes.alpaca.market import bar, snapshot

NY = ZoneInfo("America/New_York")


@pytest.fixture
def fake() -> Iterator[tuple[FakeAlpacaState, str]]:
    """A fake Alpaca and its URL."""
    state = FakeAlpacaState(page_size=100)
    now = datetime.now(UTC)
    day = datetime.now(NY).replace(hour=0, minute=0, second=0, microsecond=0)
    for symbol, last in zip(SAMPLE, ("512.3", "174", "430.07"), strict=True):
        state.snapshots[symbol] = snapshot(
            now - timedelta(seconds=2), last, last, high=last, low=last, volume=1000,
            prev_volume=50_000_000, session_day=day,
        )  # fmt: skip
    state.bars["SPY"] = [
        bar(now - timedelta(minutes=m), "512", "512.5", "511.9", "512.3", 900) for m in (3, 2)
    ]
    with running_fake_alpaca(state) as url:
        yield state, url


def _settings(
    tmp_path: Path, url: str, yaml: str = "feed: alpaca\nbroker: alpaca_paper\n", **env: str
) -> Settings:
    config = tmp_path / "settings.yaml"
    config.write_text(yaml)
    environ = {
        "FINAGENT_ALPACA__TRADING_URL": url,
        "FINAGENT_ALPACA__DATA_URL": url,
        "FINAGENT_ALPACA__KEY_ID": "test-key",
        "FINAGENT_ALPACA__SECRET_KEY": "test-secret",
        **env,
    }
    return load_settings(config, environ={k: v for k, v in environ.items() if v}).settings


def _run(settings: Settings) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = doctor(settings, print_line=lines.append)
    return code, lines


def test_doctor_against_a_healthy_fake_passes_every_check(
    fake: tuple[FakeAlpacaState, str], tmp_path: Path
) -> None:
    code, lines = _run(_settings(tmp_path, fake[1]))
    assert code == 0
    assert [line.split(":")[0] for line in lines] == [
        "ok    keys", "ok    mode", "ok    account", "ok    clock", "ok    calendar",
        "ok    market data",
    ]  # fmt: skip
    assert "ACTIVE, equity 100000.00" in lines[2]
    assert "next 10 sessions agree" in lines[4]
    assert lines[5] == (
        "ok    market data: feed iex: read 3 snapshot(s) (SPY 512.3, AAPL 174, QQQ 430.07), "
        "2 minute bar(s) for SPY"
    )
    assert "test-secret" not in "\n".join(lines)


def test_doctor_fails_naming_the_field_it_cannot_read(
    fake: tuple[FakeAlpacaState, str], tmp_path: Path
) -> None:
    fake[0].snapshots["AAPL"]["latestTrade"]["p"] = "n/a"
    code, lines = _run(_settings(tmp_path, fake[1]))
    assert code == 1
    assert lines[-1] == (
        "FAIL  market data: snapshots: malformed response: "
        "AAPL.latestTrade.p: expected a number, got 'n/a'"
    )


def test_doctor_fails_when_no_snapshot_comes_back(
    fake: tuple[FakeAlpacaState, str], tmp_path: Path
) -> None:
    fake[0].snapshots.clear()
    code, lines = _run(_settings(tmp_path, fake[1]))
    assert code == 1
    assert lines[-1] == "FAIL  market data: feed iex: no snapshot for SPY, AAPL, QQQ"


def test_doctor_on_the_alpaca_feed_alone_checks_keys_and_market_data(
    fake: tuple[FakeAlpacaState, str], tmp_path: Path
) -> None:
    code, lines = _run(_settings(tmp_path, fake[1], "feed: alpaca\nbroker: paper\n"))
    assert code == 0
    assert [line.split(":")[0] for line in lines] == ["ok    keys", "ok    market data"]
    assert fake[0].count("GET", "/v2/account") == 0


def test_doctor_with_the_defaults_has_nothing_to_check_and_passes(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "http://127.0.0.1:9", "{}\n", FINAGENT_ALPACA__KEY_ID="",
                         FINAGENT_ALPACA__SECRET_KEY="")  # fmt: skip
    assert _run(settings) == (0, [NOTHING_TO_CHECK])
    lines: list[str] = []
    assert doctor(settings, print_line=lines.append, as_json=True) == 0
    assert [json.loads(line) for line in lines] == [
        {"ok": True, "checks": [], "note": NOTHING_TO_CHECK}
    ]


def test_doctor_json_lists_every_check(fake: tuple[FakeAlpacaState, str], tmp_path: Path) -> None:
    fake[0].clock_offset = timedelta(seconds=30)
    lines: list[str] = []
    code = doctor(_settings(tmp_path, fake[1]), print_line=lines.append, as_json=True)
    [line] = lines
    report = json.loads(line)
    assert code == 1 and report["ok"] is False
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        ("keys", True), ("mode", True), ("account", True), ("clock", False),
        ("calendar", True), ("market data", True),
    ]  # fmt: skip


def test_doctor_fails_on_a_calendar_difference(
    fake: tuple[FakeAlpacaState, str], tmp_path: Path
) -> None:
    today = datetime.now(NY).date()
    third = XcalsExchangeCalendar("XNYS").sessions(today, today + timedelta(days=20))[2]
    fake[0].calendar_overrides[third.date.isoformat()] = {"close": "13:00"}
    code, lines = _run(_settings(tmp_path, fake[1]))
    assert code == 1
    [calendar] = [line for line in lines if "calendar" in line]
    assert calendar.startswith("FAIL  calendar: 1 difference(s); first ")
    assert f"{third.date}: broker 09:30-13:00, local 09:30-16:00" in calendar


def test_doctor_fails_on_clock_skew(fake: tuple[FakeAlpacaState, str], tmp_path: Path) -> None:
    fake[0].clock_offset = timedelta(seconds=30)
    code, lines = _run(_settings(tmp_path, fake[1]))
    assert code == 1
    [clock] = [line for line in lines if "clock" in line]
    assert clock.startswith("FAIL  clock: skew +")
    assert abs(float(clock.split("skew ")[1].split("s ")[0]) - 30) < 1


def test_doctor_fails_on_refused_keys(fake: tuple[FakeAlpacaState, str], tmp_path: Path) -> None:
    settings = _settings(tmp_path, fake[1], FINAGENT_ALPACA__SECRET_KEY="wrong")
    code, lines = _run(settings)
    assert code == 1
    assert "FAIL  account: HTTP 401: request is not authorized" in lines


def test_doctor_without_keys_fails_without_calling_out(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, "http://127.0.0.1:9", FINAGENT_ALPACA__KEY_ID="", FINAGENT_ALPACA__SECRET_KEY=""
    )
    code, lines = _run(settings)
    assert code == 1
    assert lines == [
        "FAIL  keys: set FINAGENT_ALPACA__KEY_ID and FINAGENT_ALPACA__SECRET_KEY",
        "ok    mode: broker alpaca_paper at http://127.0.0.1:9",
    ]


def test_doctor_fails_on_unconfirmed_live_mode(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("broker: alpaca_live\n")
    settings = load_settings(config, environ={}).settings
    code, lines = _run(settings)
    assert code == 1
    assert lines[1].startswith("FAIL  mode: broker alpaca_live trades real money")


def test_doctor_command_exits_with_the_verdict(
    fake: tuple[FakeAlpacaState, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("broker: alpaca_live\n")
    monkeypatch.delenv("FINAGENT_ALPACA__KEY_ID", raising=False)
    with pytest.raises(SystemExit) as done:
        doctor_command(config=config)
    assert done.value.code == 1


def test_doctor_command_json_on_the_defaults_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("broker: paper\nfeed: sim\n")
    monkeypatch.delenv("FINAGENT_ALPACA__KEY_ID", raising=False)
    monkeypatch.delenv("FINAGENT_ALPACA__SECRET_KEY", raising=False)
    with pytest.raises(SystemExit) as done:
        doctor_command(config=config, as_json=True)
    assert done.value.code == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


async def test_unreachable_data_api_and_bad_responses_are_failures(
    fake: tuple[FakeAlpacaState, str],
) -> None:
    state, url = fake
    state.inject("GET", "/v2/stocks/snapshots", 503, times=5)
    state.inject("GET", "/v2/clock", 200, body={"not": "a clock"})
    headers = alpaca_headers(state.key_id, state.secret_key)
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:
        checks = await run_checks(
            client, client, calendar=XcalsExchangeCalendar("XNYS"), now=lambda: datetime.now(UTC)
        )
    verdicts = {c.name: (c.ok, c.detail) for c in checks}
    assert verdicts["market data"] == (False, "snapshots: server_error 503")
    assert verdicts["clock"] == (False, "unexpected response: 'timestamp'")
    assert verdicts["account"][0] and verdicts["calendar"][0]


def test_doctor_for_the_broker_alone_skips_market_data_and_reports_an_unreachable_api(
    fake: tuple[FakeAlpacaState, str], tmp_path: Path
) -> None:
    fake[0].inject("GET", "/v2/account", 503, times=5)
    settings = _settings(tmp_path, fake[1], "feed: sim\nbroker: alpaca_paper\n")
    code, lines = _run(settings)
    assert code == 1
    assert [line.split(":")[0] for line in lines] == [
        "ok    keys", "ok    mode", "FAIL  account", "ok    clock", "ok    calendar",
    ]  # fmt: skip
    assert lines[2] == "FAIL  account: unreachable (server_error 503)"
    assert fake[0].count("GET", "/v2/stocks/snapshots") == 0

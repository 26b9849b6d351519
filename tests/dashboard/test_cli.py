"""``finagent dashboard``'s refusals, in process: one line on stderr, exit 2, nothing served."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from finagent.cli import app
from finagent.cli.dashboard import INSTALL_HINT, is_loopback


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        app(args)
    return int(info.value.code or 0), capsys.readouterr().err


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("FINAGENT_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("10.1.2.3", False), ("::", False), ("dashboard.example", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "dashboard.example"])
def test_a_network_host_needs_a_password(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["dashboard", "--host", host], capsys)
    assert code == 2
    (line,) = err.splitlines()
    assert line == (
        f"finagent: error: --host {host} is not a loopback address: set"
        " FINAGENT_DASHBOARD__PASSWORD (the dashboard can halt trading)"
    )


def test_without_the_extra_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "streamlit", None)  # as if not installed: import fails
    code, err = _run(["dashboard"], capsys)
    assert (code, err) == (2, f"finagent: error: {INSTALL_HINT}\n")


def test_the_password_is_a_secret_not_a_file_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "settings.yaml").write_text("dashboard:\n  password: hunter2\n")
    code, err = _run(["dashboard"], capsys)
    assert code == 2
    assert "key 'dashboard.password' is a secret; set it in the env as" in err
    assert "FINAGENT_DASHBOARD__PASSWORD" in err and "hunter2" not in err


def test_bad_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["dashboard", "--port", "70000"], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "dashboard.port" in err

"""Settings that cannot trade stop the daemon before it starts: one line, exit code 2."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from finagent.app.daemon import StartupError, run_worker_blocking, validate
from finagent.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _settings(**overrides: Any) -> Settings:
    return load_settings(None, overrides, environ={}).settings


NO_KEYS = {"broker": "alpaca_paper"}
UNCONFIRMED_LIVE = {
    "broker": "alpaca_live",
    "alpaca": {"key_id": "k", "secret_key": "s"},
}


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (
            NO_KEYS,
            "broker alpaca_paper needs FINAGENT_ALPACA__KEY_ID and FINAGENT_ALPACA__SECRET_KEY",
        ),
        (UNCONFIRMED_LIVE, "trades real money: set alpaca.confirm_live: true"),
    ],
)
def test_validate_refuses_a_broker_that_cannot_trade(overrides, needle) -> None:
    with pytest.raises(StartupError) as info:
        validate(_settings(**overrides))
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_a_worker_with_a_broker_that_cannot_trade_logs_one_line_and_exits_2(
    tmp_path, capsys
) -> None:
    settings = _settings(
        **NO_KEYS,
        queue_backend="redis",
        redis={"url": "redis://127.0.0.1:1/0"},  # never reached: refused before any connection
        db_path=str(tmp_path / "w.db"),
        log={"format": "json"},
    )
    assert run_worker_blocking(settings, ("execution",)) == 2
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["level"] in ("error", "ERROR")
    assert record["message"].startswith("cannot start: broker alpaca_paper needs FINAGENT_ALPACA")
    assert not (tmp_path / "w.db").exists()

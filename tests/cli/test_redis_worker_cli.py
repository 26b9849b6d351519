"""``finagent worker``: argument checks that need no running daemon."""

from __future__ import annotations

from pathlib import Path

import pytest

from finagent.cli.worker import SERVICES, parse_services, worker


def test_services_are_parsed_deduplicated_and_all_expands() -> None:
    assert parse_services(" scoring, planner,scoring ") == ("scoring", "planner")
    assert parse_services("all") == SERVICES


@pytest.mark.parametrize(("text", "message"), [("", "no service named"), ("x,planner", "x")])
def test_unknown_or_missing_services_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_services(text)


def test_worker_exits_2_on_a_bad_service(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        worker(services="nope")
    assert exit_info.value.code == 2
    assert "unknown service(s) nope" in capsys.readouterr().err


def test_worker_needs_the_redis_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("queue_backend: sqlite\n")
    with pytest.raises(SystemExit) as exit_info:
        worker(services="scoring", config=config)
    assert exit_info.value.code == 2
    assert "needs queue_backend: redis" in capsys.readouterr().err

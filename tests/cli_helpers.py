"""Running the ``finagent`` CLI in-process, away from the developer's shell and settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from finagent.cli import app

__all__ = ["clean_env", "run_cli"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``finagent ARGS`` in this process: the exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as info:
        app(args)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings file or FINAGENT_* variable from the developer's shell (imported: autouse)."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("FINAGENT_")]:
        monkeypatch.delenv(name)

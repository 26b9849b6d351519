"""A database of several simulated sessions, made once by ``finagent simulate --db``.

Each test gets its own copy (the job database and the paper broker's book), so a test that
presses a button never changes what another one reads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemon import FINAGENT, env_for

#: the simulated sessions (2025-01-09 was a market holiday: the national day of mourning)
DAYS = ("2025-01-06", "2025-01-07", "2025-01-08")
SYMBOLS = "300"


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``finagent simulate --db`` over :data:`DAYS`; each day's printed report kept as JSON."""
    where = tmp_path_factory.mktemp("sim")
    for day in DAYS:
        done = subprocess.run(
            [*FINAGENT, "simulate", "--db", str(where / "finagent.db"), "--date", day,
             "--symbols", SYMBOLS, "--json"],
            cwd=where, env=env_for(where), capture_output=True, text=True, timeout=240,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        (where / f"{day}.json").write_text(done.stdout)
    return where


@pytest.fixture
def db(sim_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the simulated database (and its paper book) in ``tmp_path``."""
    for f in sim_dir.iterdir():
        if f.name.startswith("finagent.") and not f.name.endswith(".lock"):
            shutil.copy(f, tmp_path / f.name)
    return tmp_path / "finagent.db"


@pytest.fixture
def reports(sim_dir: Path) -> Mapping[str, Mapping[str, Any]]:
    """The report ``finagent simulate`` printed for each day."""
    return {d: json.loads((sim_dir / f"{d}.json").read_text()) for d in DAYS}


@pytest.fixture
def dash_env(monkeypatch: pytest.MonkeyPatch, db: Path) -> Iterator[pytest.MonkeyPatch]:
    """The environment the dashboard's process gets from ``finagent dashboard --db``."""
    import os

    for name in [n for n in os.environ if n.startswith("FINAGENT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FINAGENT_DB_PATH", str(db))
    monkeypatch.chdir(db.parent)  # no ./settings.yaml there: the embedded defaults
    yield monkeypatch

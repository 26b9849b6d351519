"""``finagent queue`` commands and the store's one-line errors on unusable files."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from finagent.adapters.sqlite.schema import SCHEMA_VERSION, StoreError, connect_reader
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.cli.queue import parse_duration, queue_app
from finagent.domain.jobs import NewJob, QueuePolicy
from finagent.ports.queue import Claim, Complete, Enqueue, Fail

POLICY = QueuePolicy(max_attempts=1)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        queue_app(args, result_action="return_value")
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "q.db"
    store = SqliteJobStore.open(path)
    now = time.time()
    store.apply([Enqueue([NewJob("scan", f"k{i}", {"i": i}) for i in range(4)])], now - 30, POLICY)
    a, b = store.apply([Claim(["scan"], 2, "w")], now - 20, POLICY)[0]  # type: ignore[misc]
    store.apply([Complete(a.id, "w"), Fail(b.id, "w", "Traceback: boom")], now - 10 * 86400, POLICY)
    store.close()
    return path


def test_stats_json_counts_by_type_and_status(db: Path, capsys) -> None:
    code, out, _ = run(["stats", "--db", str(db), "--json"], capsys)
    data = json.loads(out)
    assert code == 0
    assert {(r["status"], r["count"]) for r in data["counts"]} == {
        ("pending", 2), ("done", 1), ("dead", 1),
    }  # fmt: skip
    assert data["oldest_pending_age_s"] >= 30
    code, out, _ = run(["stats", "--db", str(db)], capsys)
    assert code == 0 and "oldest pending" in out and "dead" in out


def test_ls_filters_and_show_prints_the_error(db: Path, capsys) -> None:
    code, out, _ = run(["ls", "--db", str(db), "--status", "dead", "--json"], capsys)
    (dead,) = json.loads(out)
    assert code == 0 and dead["last_error"] == "Traceback: boom"
    code, out, _ = run(["ls", "--db", str(db), "--type", "scan", "--limit", "3"], capsys)
    assert code == 0 and len(out.strip().splitlines()) == 4
    code, out, _ = run(["show", str(dead["id"]), "--db", str(db)], capsys)
    assert code == 0 and "Traceback: boom" in out and "payload" in out
    code, out, _ = run(["show", str(dead["id"]), "--db", str(db), "--json"], capsys)
    assert json.loads(out)["status"] == "dead"
    code, _, err = run(["show", "999", "--db", str(db)], capsys)
    assert code == 2 and "no job 999" in err


def test_retry_and_purge_write_while_a_reader_is_open(db: Path, capsys) -> None:
    reader = connect_reader(db)  # e.g. the daemon's metrics reader
    code, out, _ = run(["retry", "--dead", "--db", str(db), "--json"], capsys)
    assert code == 0 and len(json.loads(out)["requeued"]) == 1
    code, _, err = run(["retry", "1", "--db", str(db)], capsys)
    assert code == 2 and "not dead" in err
    code, _, err = run(["retry", "--db", str(db)], capsys)
    assert code == 2 and "job ID or --dead" in err
    code, out, _ = run(["purge", "--done-older-than", "7d", "--db", str(db), "--json"], capsys)
    assert code == 0 and json.loads(out) == {"purged": 1}
    code, out, _ = run(["purge", "--done-older-than", "7d", "--db", str(db)], capsys)
    assert code == 0 and "purged 0" in out
    code, _, err = run(["purge", "--done-older-than", "soon", "--db", str(db)], capsys)
    assert code == 2 and "bad duration" in err
    assert reader.execute("SELECT COUNT(*) FROM jobs").fetchone() == (3,)
    reader.close()


def test_retry_one_dead_job_by_id(db: Path, capsys) -> None:
    _, out, _ = run(["ls", "--db", str(db), "--status", "dead", "--json"], capsys)
    job_id = json.loads(out)[0]["id"]
    code, out, _ = run(["retry", str(job_id), "--db", str(db)], capsys)
    assert code == 0 and "requeued 1" in out


def test_db_defaults_to_the_settings_db_path(
    db: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(f"db_path: {db}\n")
    code, out, _ = run(["stats", "--config", str(config), "--json"], capsys)
    assert code == 0 and json.loads(out)["counts"]


@pytest.mark.parametrize("duration,seconds", [("90", 90), ("15m", 900), ("7d", 604800)])
def test_durations(duration: str, seconds: float) -> None:
    assert parse_duration(duration) == seconds


def _not_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database at all, just some text\n" * 10)
    return path


def _newer(tmp_path: Path) -> Path:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda tmp: tmp / "missing-dir" / "q.db", "is not a directory"),
        (lambda tmp: tmp, "is a directory"),
        (_not_sqlite, "not a SQLite database"),
        (_newer, "is newer than this finagent"),
    ],
)
def test_unusable_files_fail_in_one_line_and_stay_untouched(
    tmp_path: Path, make, message: str, capsys
) -> None:
    path = make(tmp_path)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(StoreError, match=message) as info:
        SqliteJobStore.open(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    for args in (["stats"], ["purge", "--done-older-than", "1d"]):
        code, out, err = run([*args, "--db", str(path)], capsys)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and str(path) in err
    if before is not None:
        assert path.read_bytes() == before
    if path.parent.is_dir():  # no -wal/-shm journal was created next to it
        assert [p for p in path.parent.iterdir() if p.name.startswith(f"{path.name}-")] == []


def test_a_fresh_file_has_no_schema_for_readers(tmp_path: Path, capsys) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    code, _, err = run(["stats", "--db", str(path)], capsys)
    assert code == 2 and "start the daemon once" in err


def test_stats_measures_the_oldest_pending_age_on_the_daemons_sim_timeline(
    tmp_path: Path, capsys
) -> None:
    from finagent.adapters.sqlite.state import SimAnchor, SqliteTradingStore

    path = tmp_path / "sim.db"
    wall = time.time()
    sim_start = wall - 3 * 86400  # the sim replays a session three days back, at 10x
    store = SqliteTradingStore.open(path)
    store.anchor(SimAnchor(wall - 60, sim_start, 10.0))  # anchored a wall minute ago
    virtual_now = sim_start + 60 * 10.0
    store.apply([Enqueue([NewJob("scan", "k")])], virtual_now - 100, POLICY)  # due 100 s ago
    store.close()
    code, out, _ = run(["stats", "--db", str(path), "--json"], capsys)
    age = json.loads(out)["oldest_pending_age_s"]
    assert code == 0 and 100 <= age < 100 + 60  # not three days: the daemon's clock, not wall


def test_on_a_simulated_timeline_a_retried_job_is_due_by_the_daemons_clock(
    tmp_path: Path, capsys
) -> None:
    """The daemon runs 2025-01-06 at 10x: the retried job is due then, not at today's wall time
    (which the sim clock would reach only after months of virtual time)."""
    from finagent.adapters.sqlite.schema import connect_writer
    from finagent.adapters.sqlite.state import SimAnchor, load_anchor

    path = tmp_path / "sim.db"
    virtual = 1736172000.0  # 2025-01-06 14:00 UTC
    wall = time.time()
    store = SqliteJobStore.open(path)
    store.apply([Enqueue([NewJob("scan", "k", {})])], virtual - 60, POLICY)
    (job,) = store.apply([Claim(["scan"], 1, "w")], virtual - 50, POLICY)[0]  # type: ignore[misc]
    store.apply([Fail(job.id, "w", "boom")], virtual - 40, POLICY)
    store.close()
    conn = connect_writer(path)
    load_anchor(conn, SimAnchor(wall, virtual, 10.0))
    conn.close()
    code, out, _ = run(["retry", "--dead", "--db", str(path), "--json"], capsys)
    assert code == 0 and json.loads(out) == {"requeued": [job.id]}
    reader = connect_reader(path)
    (run_at,) = reader.execute("SELECT run_at FROM jobs WHERE id = ?", (job.id,)).fetchone()
    reader.close()
    elapsed = time.time() - wall
    assert virtual <= run_at <= virtual + 10 * elapsed + 1

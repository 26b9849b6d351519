"""``finagent queue show`` of a job that never failed: no last_error section."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.cli.queue import queue_app
from finagent.domain.jobs import NewJob, QueuePolicy
from finagent.ports.queue import Enqueue


def test_show_a_pending_job_prints_its_payload_and_no_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "q.db"
    store = SqliteJobStore.open(path)
    (job,) = store.apply([Enqueue([NewJob("scan", "k1", {"i": 1})])], time.time(), QueuePolicy())[0]
    store.close()
    queue_app(["show", str(job.id), "--db", str(path)], result_action="return_value")
    out = capsys.readouterr().out
    assert "status        pending" in out
    assert out.endswith('payload       {"i":1}\n')  # the last line: no last_error section
    assert "last_error" not in out

"""``app.storage`` at start: an unfinished quick_check, and a new database beside a busy broker."""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import finagent.app.storage as storage
from finagent.adapters.sqlite.dbfile import check_integrity
from finagent.adapters.sqlite.state import read_control
from finagent.app.storage import Before, halt_if_history_lost, open_job_store
from finagent.domain.errors import BrokerUnavailable
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder, BrokerOrder
from finagent.observability import Metrics
from finagent.settings import Settings, load_settings
from tests.fakes import FakeBroker, FakeClock

AT = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)
NEW_DB = Before(new_db=True, paper_db=False)


def _settings(db: Path) -> Settings:
    return load_settings(None, {"db_path": str(db), "broker": "alpaca_paper"}, environ={}).settings


def _fresh_database_faults(metrics: Metrics) -> float | None:
    labels = {"fault": "fresh_database"}
    return metrics.registry.get_sample_value("finagent_database_faults_total", labels)


class DownBroker(FakeBroker):
    """A broker that cannot list its open orders at start (an outage)."""

    async def open_orders(self) -> Sequence[BrokerOrder]:
        raise BrokerUnavailable("GET /v2/orders: server_error 503 (outcome unknown)")


async def test_an_unfinished_quick_check_warns_and_the_store_still_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "finagent.db"
    conn = sqlite3.connect(db)  # enough pages that quick_check outlives a zero budget
    conn.execute("CREATE TABLE filler (n INTEGER PRIMARY KEY, s TEXT)")
    conn.executemany("INSERT INTO filler (s) VALUES (?)", [("x" * 200,) for _ in range(5000)])
    conn.commit()
    conn.close()
    monkeypatch.setattr(storage, "check_integrity", functools.partial(check_integrity, budget_s=0))
    metrics = Metrics("test", process_collectors=False)
    with caplog.at_level(logging.WARNING, logger="finagent.app.storage"):
        async with AsyncExitStack() as stack:
            store, identity, before = open_job_store(stack, _settings(db), metrics)
            assert before == Before(new_db=False, paper_db=False)
            assert identity.changed() is None and store.identity is identity
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1
    assert warned[0].startswith(f"database {db}: quick_check stopped unfinished after ")
    assert warned[0].endswith(" s; the rest is unchecked")


async def test_a_broker_that_cannot_list_orders_only_warns_and_does_not_halt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "finagent.db"
    metrics = Metrics("test", process_collectors=False)
    with caplog.at_level(logging.WARNING, logger="finagent.app.storage"):
        await halt_if_history_lost(_settings(db), NEW_DB, DownBroker(FakeClock(AT)), metrics)
    assert [r.getMessage() for r in caplog.records] == [
        "cannot list the broker's open orders at start: "
        "GET /v2/orders: server_error 503 (outcome unknown)"
    ]
    assert not db.exists()  # no halt written: reconciliation retries the broker later
    assert not _fresh_database_faults(metrics)


async def test_a_new_database_beside_working_orders_halts_until_resume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "finagent.db"
    broker = FakeBroker(FakeClock(AT))
    entry = BracketOrder("b1", "AAPL", Side.LONG, 10, Decimal(100), Decimal(95), Decimal(110))
    await broker.submit(entry)
    metrics = Metrics("test", process_collectors=False)
    with caplog.at_level(logging.ERROR, logger="finagent.app.storage"):
        await halt_if_history_lost(_settings(db), NEW_DB, broker, metrics)
    assert read_control(db).state == "halted"
    assert _fresh_database_faults(metrics) == 1.0
    assert [r.getMessage() for r in caplog.records] == [
        f"database {db} is new but 1 open order(s) at the broker already exists: trading is"
        " halted until `finagent resume` (restore the old database if it was lost)"
    ]

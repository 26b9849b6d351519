"""The read model behind ``finagent status`` and its text, on real files (no daemon needed)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trio

from finagent.adapters.sim.market import SimMarket
from finagent.adapters.sim.paper_broker import open_paper_broker, read_paper_book
from finagent.adapters.sqlite.dbfile import hold_database, lock_holder, lock_path
from finagent.adapters.sqlite.state import SimAnchor, SqliteTradingStore, load_anchor
from finagent.app.status import read_status, status_json
from finagent.cli.status import format_status
from finagent.domain.errors import StorageError
from finagent.domain.market import Side
from finagent.domain.orders import BracketOrder
from finagent.domain.risk import TradingState
from finagent.ports.trading import Applied, Control
from finagent.services.trading_state import TradingSwitch, TradingWatch
from finagent.settings import load_settings
from tests.fakes import FakeBroker, FakeClock

NY = ZoneInfo("America/New_York")
OPEN_DAY = datetime(2025, 1, 6, 11, 0, tzinfo=NY)  # a Monday, in the session
EARLY = datetime(2024, 12, 24, 10, 0, tzinfo=NY)  # Christmas Eve: closes at 13:00


def settings(db: Path, **more: object):  # type: ignore[no-untyped-def]
    return load_settings(None, {"db_path": str(db), **more}, environ={}).settings


def anchored(db: Path, at: datetime) -> None:
    """A daemon's first start at ``at`` (speed 1): the stored timeline status follows."""
    store = SqliteTradingStore.open(db)
    try:
        load_anchor(store._conn, SimAnchor(time.time(), at.timestamp(), 1.0))
    finally:
        store.close()


def paper_book(path: Path, at: datetime) -> None:
    """One filled bracket (a position) and one working entry at the paper broker, today."""

    async def seed() -> None:
        market = SimMarket(symbols=20, seed=42)
        clock = FakeClock(at)
        symbols = await market.universe(at.date())
        async with open_paper_broker(path, market, clock) as broker:
            last = (await market.last_prices([symbols[0]], at))[symbols[0]]
            await broker.submit(BracketOrder("b1", symbols[0], Side.LONG, 10, last * 2,
                                             Decimal("0.01"), last * 100))  # fmt: skip
            await broker.submit(BracketOrder("b2", symbols[1], Side.LONG, 1, Decimal(1),
                                             Decimal("0.5"), Decimal(2)))  # fmt: skip
            clock.set(at + timedelta(minutes=5))
            await broker.sync_to(clock.now())

    trio.run(seed)


def test_an_open_session_with_a_paper_book_and_no_daemon(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    anchored(db, OPEN_DAY)
    paper_book(tmp_path / "finagent.paper.db", OPEN_DAY)
    found = read_status(settings(db))
    assert found.session.open and not found.session.early_close
    assert found.session.next_close == datetime(2025, 1, 6, 16, 0, tzinfo=NY)
    assert not found.daemon.running and found.trading_state == "active"
    assert [o.client_order_id for o in found.orders] == ["b1", "b2"]
    assert all(p.last_price is None for p in found.positions)
    data = status_json(found)
    assert any(o["filled_price"] is not None for o in data["orders"])
    assert data["queue"]["backend"] == "sqlite"
    text = format_status(found, "America/New_York", "UTC")
    assert "session   open; today 09:30-16:00 EST" in text
    assert "filled " in text and ", exit target @ " in text
    assert "daemon    not running" in text


def test_an_early_close_a_remote_broker_and_a_redis_queue(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    anchored(db, EARLY)
    found = read_status(settings(db, broker="alpaca_paper", queue_backend="redis"))
    assert found.session.early_close and found.session.today_close == datetime(
        2024, 12, 24, 13, 0, tzinfo=NY
    )
    assert found.broker_view == "remote" and found.realized_pnl is None and found.queue is None
    data = status_json(found)
    assert data["queue"] == {"backend": "redis", "pending": None, "running": None, "dead": None,
                             "oldest_pending_age_s": None}  # fmt: skip
    text = format_status(found, "America/New_York", "UTC")
    assert "EARLY CLOSE" in text and "the broker is remote" in text and "on Redis" in text


def test_a_held_answer_and_an_empty_schedule_read_as_such(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    anchored(db, OPEN_DAY)
    from finagent.adapters.sqlite.state import set_control
    from finagent.domain.jobs import QueuePolicy
    from finagent.ports.trading import PutApplied

    asked = set_control(db, "active", flatten=False, now=5.0)
    store = SqliteTradingStore.open(db)
    held = Applied("reducing", 0, asked.updated_at, os.getpid(), 6.0, "Redis lost its data")
    store.apply([PutApplied(held)], 0.0, QueuePolicy())
    store.close()
    with hold_database(db, note={"since": "yesterday"}):
        lock_path(db).write_text("12\n[1]\n")  # a note that is not an object reads as none
        found = read_status(settings(db))
    assert found.daemon.running and found.daemon.pid == 12 and found.daemon.since is None
    assert found.trading_state == "reducing" and found.trading_reason == "Redis lost its data"
    text = format_status(found, "America/New_York", "UTC")
    assert "since -" in text and "asked active" in text


def test_lock_holder_sees_nobody_without_a_lock_file_or_a_holder(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    assert lock_holder(db) is None
    with hold_database(db):
        pass
    assert lock_holder(db) is None  # the file stays, the lock went with its holder
    (tmp_path / "x.db.lock").write_text("garbage\n{\n")
    fd = os.open(tmp_path / "x.db.lock", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    holder = lock_holder(tmp_path / "x.db")
    os.close(fd)
    assert holder is not None and holder.pid is None and holder.note == {}


def test_a_start_during_a_probe_waits_instead_of_refusing(tmp_path: Path) -> None:
    db = tmp_path / "finagent.db"
    with hold_database(db):
        pass
    fd = os.open(lock_path(db), os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # what lock_holder holds for a moment
    threading.Timer(0.05, os.close, (fd,)).start()
    with hold_database(db):
        assert lock_path(db).read_text() == f"{os.getpid()}\n"


def test_a_paper_book_that_is_not_there_reads_as_none(tmp_path: Path) -> None:
    assert read_paper_book(tmp_path / "missing.db") is None
    (tmp_path / "empty.db").write_bytes(b"")
    assert read_paper_book(tmp_path / "empty.db") is None


class _FailingAcks:
    """Acknowledgements whose first write fails like a full disk."""

    def __init__(self) -> None:
        self.recorded: list[Applied] = []
        self.fail = True

    async def record_applied(self, applied: Applied) -> None:
        if self.fail:
            self.fail = False
            raise StorageError("disk I/O error")
        self.recorded.append(applied)


class _Row:
    def __init__(self, control: Control) -> None:
        self.row = control

    async def control(self) -> Control:
        return self.row


async def test_a_failed_acknowledgement_is_retried_on_the_next_poll(caplog) -> None:
    clock = FakeClock(datetime(2025, 1, 6, 15, 0, tzinfo=UTC))
    acks = _FailingAcks()
    row = _Row(Control("halted", 0, 7.0))
    watch = TradingWatch(TradingSwitch(), row, None, FakeBroker(clock), clock,  # type: ignore[arg-type]
                         acks=acks, wall=lambda: 8.0)  # fmt: skip
    await watch.poll()
    assert acks.recorded == [] and "cannot record the applied trading state" in caplog.text
    await watch.poll()
    await watch.poll()  # nothing changed: no second record
    assert acks.recorded == [Applied("halted", 0, 7.0, os.getpid(), 8.0, None)]
    assert TradingState.HALTED.value == acks.recorded[0].state


def test_status_refuses_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no such database file"):
        read_status(settings(tmp_path / "nope.db"))


def test_the_status_screen_lists_each_position_and_says_when_no_price_is_known(
    tmp_path: Path,
) -> None:
    from dataclasses import replace
    from decimal import Decimal

    from finagent.app.status import PositionInfo

    db = tmp_path / "finagent.db"
    anchored(db, OPEN_DAY)
    paper_book(tmp_path / "finagent.paper.db", OPEN_DAY)
    found = replace(
        read_status(settings(db)),
        positions=[
            PositionInfo("ABC", 120, Decimal("12.34")),
            PositionInfo("XYZ", -50, Decimal(7)),
        ],
    )
    text = format_status(found, "America/New_York", "UTC")
    assert "positions 2" in text
    assert "  ABC        120 @ 12.34  (no last price)" in text
    assert "  XYZ        -50 @ 7  (no last price)" in text

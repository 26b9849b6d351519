"""Storage faults (disk full, I/O error, a held lock) are not job failures: the writer holds the
batch and retries it, trading goes degraded (no new entries), /readyz says why, and everything
recovers by itself. The faults are real SQLite errors: a page limit, a second connection's
lock, and an I/O error raised at COMMIT with SQLite's own result code."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import trio

from finagent.adapters.sqlite.faults import storage_fault
from finagent.adapters.sqlite.schema import connect_writer
from finagent.adapters.sqlite.state import SqliteTradingStore
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.app.live_checks import LoopLagCheck, degrade_on_fault, store_checks
from finagent.domain.errors import StorageUnavailableError
from finagent.domain.job_types import ExecuteJob
from finagent.domain.jobs import JobStatus, NewJob, QueuePolicy
from finagent.domain.pipeline import execute_key
from finagent.domain.risk import RiskDecision, TradingState
from finagent.observability.health import Readiness, run_live_checks
from finagent.observability.metrics import Metrics
from finagent.ports.trading import ReadControl
from finagent.services.execution import Executor
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest
from finagent.services.stage import Stage
from finagent.services.trading_state import TradingSwitch, TradingWatch, WriterRecords
from tests.contract.backends import virtual_now
from tests.fakes import FakeBroker, FakeClock
from tests.services.test_pipeline import OPEN, PLAN, SESSION

POLICY = QueuePolicy(lease_s=30.0, max_attempts=1)  # one attempt: a burned one would be dead
BIG = {"blob": "x" * 200_000}  # needs new pages: a full disk refuses it


def _io_error() -> sqlite3.OperationalError:
    """The error SQLite raises on a failed write, with its real extended result code."""
    exc = sqlite3.OperationalError("disk I/O error")
    exc.sqlite_errorcode = sqlite3.SQLITE_IOERR_WRITE  # type: ignore[attr-defined]
    exc.sqlite_errorname = "SQLITE_IOERR_WRITE"  # type: ignore[attr-defined]
    return exc


class FaultyConnection:
    """The writer's real connection; while ``io_error`` is set, COMMIT fails as a bad disk's."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.io_error = False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if self.io_error and sql == "COMMIT":
            raise _io_error()
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


class Fault:
    """Turns one real storage fault on and off on a database file."""

    def __init__(self, kind: str, path: Path, conn: FaultyConnection) -> None:
        self.kind, self.path, self.conn = kind, path, conn
        self.other: sqlite3.Connection | None = None

    def start(self) -> None:
        if self.kind == "disk_full":  # the file may not grow: SQLITE_FULL, from SQLite itself
            pages = self.conn.conn.execute("PRAGMA page_count").fetchone()[0]
            self.conn.conn.execute(f"PRAGMA max_page_count = {pages}")
        elif self.kind == "io_error":
            self.conn.io_error = True
        else:  # another process holds the write lock past the busy timeout: SQLITE_BUSY
            self.other = sqlite3.connect(self.path, isolation_level=None)
            self.other.execute("BEGIN IMMEDIATE")

    def stop(self) -> None:
        if self.kind == "disk_full":
            self.conn.conn.execute("PRAGMA max_page_count = 1073741823")
        elif self.kind == "io_error":
            self.conn.io_error = False
        else:
            assert self.other is not None
            self.other.execute("ROLLBACK")
            self.other.close()


def _open(path: Path) -> tuple[SqliteTradingStore, FaultyConnection]:
    conn = FaultyConnection(connect_writer(path, busy_timeout_ms=10))
    return SqliteTradingStore(conn), conn  # type: ignore[arg-type]


def test_sqlite_errors_that_mean_a_storage_fault_are_translated(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.OperationalError) as full:
        conn.execute("INSERT INTO t VALUES (?)", ("x" * 100_000,))
    with pytest.raises(sqlite3.OperationalError) as syntax:
        conn.execute("SELEC 1")
    fault = storage_fault(full.value)
    assert fault is not None and fault.reason == "disk full"
    io = storage_fault(_io_error())
    assert io is not None and io.reason == "I/O error" and "disk I/O error" in str(io)
    assert storage_fault(syntax.value) is None  # a bug stays a bug
    assert storage_fault(sqlite3.OperationalError("no code")) is None
    assert storage_fault(ValueError("x")) is None


@pytest.mark.parametrize("kind", ["disk_full", "io_error", "held_lock"])
async def test_a_storage_fault_holds_the_batch_degrades_and_recovers_by_itself(
    tmp_path: Path, kind: str, autojump_clock, caplog
) -> None:
    caplog.set_level(logging.INFO)
    path = tmp_path / "q.db"
    store, conn = _open(path)
    fault = Fault(kind, path, conn)
    clock = FakeClock(OPEN + timedelta(minutes=6))
    broker = FakeBroker(clock)
    metrics = Metrics(process_collectors=False)
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, virtual_now, inline=True)
    queue, records = PersistentJobQueue(send), WriterRecords(send)
    switch = TradingSwitch()
    watch = TradingWatch(switch, records, queue, broker, clock, metrics=metrics)
    degrade_on_fault(writer.health, watch, metrics)
    checks = store_checks(writer.health, lambda: receive.statistics().current_buffer_used)
    stage = Stage(Executor(broker, clock, switch), queue, clock.timestamp)
    decision = RiskDecision(PLAN.key, True, 100, (), TradingState.ACTIVE)
    payload = ExecuteJob(SESSION, PLAN, decision).encode()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        await watch.poll()
        (entry,) = await queue.enqueue([NewJob("execute", execute_key(SESSION, "ABC"), payload)])
        (claimed,) = await queue.claim(["execute"], 1, "test")
        assert checks["store_writable"]() is None

        fault.start()
        t0 = trio.current_time()
        nursery.start_soon(queue.enqueue, [NewJob("report", "big", BIG)])  # held by the fault
        await trio.sleep(1)
        assert writer.health.fault is not None
        assert switch.state is TradingState.DEGRADED and switch.chosen is TradingState.ACTIVE
        assert metrics.store_degraded._value.get() == 1
        reason = checks["store_writable"]()
        assert reason is not None and writer.health.fault.reason in reason and "since" in reason

        done = trio.Event()

        async def process() -> None:
            await stage.process(claimed)  # degraded: sends nothing; its completion waits
            done.set()

        nursery.start_soon(process)
        await trio.sleep(120)  # far past the job's 30 s lease
        assert broker.submitted == []  # no new entry while degraded
        if kind != "disk_full":  # a full disk still takes a completion that adds no page
            assert not done.is_set()
            stalled = checks["writer_not_stalled"]()
            assert stalled is None or "no commit for" in stalled

        fault.stop()
        await done.wait()
        assert trio.current_time() - t0 <= 120 + 5 + 1  # back within one back-off step
        job = await queue.get(entry.id)
        assert (job.status, job.attempts) == (JobStatus.DONE, 1)  # not dead, no attempt burned
        assert (await queue.stats()).total(JobStatus.DEAD) == 0
        assert writer.health.fault is None and checks["store_writable"]() is None
        assert switch.state is TradingState.ACTIVE
        assert metrics.store_degraded._value.get() == 0
        nursery.cancel_scope.cancel()
    store.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("job store cannot commit since" in m for m in warnings) == 1
    assert sum("job store commits again after" in m for m in warnings) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_thread_mode_holds_and_retries_a_batch_too(tmp_path: Path, autojump_clock) -> None:
    path = tmp_path / "q.db"
    store, conn = _open(path)
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, virtual_now, inline=False)
    queue = PersistentJobQueue(send)
    faulted = trio.Event()
    writer.health.listen(lambda fault: fault is not None and faulted.set())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        await queue.stats()
        conn.io_error = True
        async with trio.open_nursery() as callers:
            for i in range(4):
                callers.start_soon(queue.enqueue, [NewJob("scan", f"s{i}")])
            await faulted.wait()  # the thread's first try failed
            await trio.sleep(3)  # a few back-off rounds, all failing
            conn.io_error = False
        assert writer.health.fault is None
        assert (await queue.stats()).total(JobStatus.PENDING) == 4
        nursery.cancel_scope.cancel()
    store.close()


@pytest.mark.parametrize("inline", [True, False])
async def test_a_writer_stopped_while_holding_answers_its_callers(
    tmp_path: Path, inline: bool, autojump_clock
) -> None:
    from actors import ActorDeadError

    store, conn = _open(tmp_path / "q.db")
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, virtual_now, inline=inline)
    queue = PersistentJobQueue(send)
    failed: list[BaseException] = []

    async def enqueue() -> None:
        try:
            await queue.enqueue([NewJob("scan", "s")])
        except ActorDeadError as exc:
            failed.append(exc)

    async with trio.open_nursery() as callers:
        writing = trio.CancelScope()

        async def serve() -> None:
            with writing:
                await writer.serve(receive)

        callers.start_soon(serve)
        await queue.stats()
        conn.io_error = True
        callers.start_soon(enqueue)
        await trio.sleep(2)
        writing.cancel()  # the writer stops with the batch held
    assert len(failed) == 1
    assert writer.health.fault is not None  # still true: nothing was committed
    store.close()


async def test_recovery_at_start_waits_for_the_store(tmp_path: Path, autojump_clock) -> None:
    store, conn = _open(tmp_path / "q.db")
    conn.io_error = True
    _send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, virtual_now, inline=True)
    ready = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive, ready.set)
        await trio.sleep(10)
        assert not ready.is_set() and writer.health.fault is not None
        conn.io_error = False
        await ready.wait()
        assert writer.health.fault is None
        nursery.cancel_scope.cancel()
    store.close()


async def test_live_checks_show_each_result_and_the_loop_lag(autojump_clock) -> None:
    from actors.events import LoopLag

    lag = LoopLagCheck(max_s=1.0)
    readiness = Readiness(["loop_lag", "always"])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_live_checks, readiness, {"loop_lag": lag, "always": lambda: None})
        await trio.sleep(0.5)
        assert readiness.ready
        lag.on_event(LoopLag("watchdog", 1.5))
        await trio.sleep(1)
        assert readiness.failing() == ["loop_lag"]
        assert readiness.reason("loop_lag") == "event loop lag 1.50 s > 1 s"
        lag.on_event(LoopLag("watchdog", 0.01))
        await trio.sleep(1)
        assert readiness.ready and readiness.reason("loop_lag") == ""
        nursery.cancel_scope.cancel()


async def test_the_writer_counts_as_stalled_only_with_requests_waiting(autojump_clock) -> None:
    from finagent.services.store_health import StoreHealth

    health = StoreHealth()
    waiting = [0]
    check = store_checks(health, lambda: waiting[0], stall_s=30)["writer_not_stalled"]
    assert check() is None  # nothing committed yet: the declared checks cover start-up
    health.last_commit = trio.current_time()
    await trio.sleep(60)
    assert check() is None  # idle, nothing waits
    waiting[0] = 3
    assert check() == "3 request(s) waiting, no commit for 60 s"
    health.last_commit = trio.current_time()
    assert check() is None  # requests wait, but the writer committed just now


# ---- a real small filesystem -------------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path):
    """A 2 MiB tmpfs; skipped where this machine refuses the mount (not root, no CAP_SYS_ADMIN)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs refused here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> None:
    """Write until the filesystem is full (``dd if=/dev/zero`` until ENOSPC)."""
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


async def test_a_really_full_filesystem_holds_then_commits(tiny_fs: Path, autojump_clock) -> None:
    store = SqliteJobStore.open(tiny_fs / "q.db", checkpoint_s=None)
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, virtual_now, inline=True)
    queue = PersistentJobQueue(send)
    filler = tiny_fs / "filler"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        await queue.stats()
        _fill(filler)
        done = trio.Event()

        async def enqueue() -> None:
            await queue.enqueue([NewJob("report", f"big{i}", BIG) for i in range(4)])
            done.set()

        nursery.start_soon(enqueue)
        await trio.sleep(30)
        assert not done.is_set()
        fault = writer.health.fault
        assert isinstance(fault, StorageUnavailableError) and fault.reason == "disk full"
        filler.unlink()
        await done.wait()
        assert writer.health.fault is None
        assert (await queue.stats()).total(JobStatus.PENDING) == 4
        nursery.cancel_scope.cancel()
    store.close()


async def test_degraded_overrides_only_active_and_the_operator_state_survives(
    tmp_path: Path,
) -> None:
    from finagent.adapters.sqlite.state import set_control

    path = tmp_path / "q.db"
    store, _ = _open(path)
    clock = FakeClock(OPEN)
    metrics = Metrics(process_collectors=False)
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, clock.timestamp, inline=True)
    switch = TradingSwitch()
    records = WriterRecords(send)
    watch = TradingWatch(
        switch, records, PersistentJobQueue(send), FakeBroker(clock), clock, metrics=metrics
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        await watch.poll()
        watch.on_store(StorageUnavailableError("disk full"))
        assert switch.state is TradingState.DEGRADED
        await watch.poll()  # the control row still says active: no change, no log line
        assert switch.state is TradingState.DEGRADED
        set_control(path, "halted", flatten=False, now=0.0)
        await watch.poll()
        assert switch.state is TradingState.HALTED  # the operator's stricter state wins
        watch.on_store(None)
        assert switch.state is TradingState.HALTED
        set_control(path, "active", flatten=False, now=0.0)
        await watch.poll()
        assert switch.state is TradingState.ACTIVE
        nursery.cancel_scope.cancel()
    store.close()


def test_store_health_logs_once_per_fault_and_clears_when_nothing_is_held(caplog) -> None:
    from finagent.services.store_health import StoreHealth

    health = StoreHealth()
    heard: list[str | None] = []
    health.listen(lambda fault: heard.append(None if fault is None else fault.reason))
    assert health.since_text() == ""
    health.hold(StorageUnavailableError("disk full"), 1_700_000_000.0, 3)
    health.hold(StorageUnavailableError("database locked"), 1_700_000_005.0, 1)
    assert health.fault is not None and health.fault.reason == "database locked"
    assert health.since_text() == "2023-11-14T22:13:20+00:00"  # the first batch's time
    health.release(1_700_000_006.0, committed=True)  # one batch still held: still faulted
    assert health.fault is not None
    health.release(1_700_000_007.0, committed=False)  # the writer stopped first
    assert health.fault is not None and heard == ["disk full"]
    health.committed(1_700_000_010.0)  # a restarted writer's first commit: nothing held
    assert health.fault is None and heard == ["disk full", None]
    assert "after 10.0 s (database locked)" in caplog.records[-1].getMessage()


async def test_trading_ops_wait_out_a_fault_too(tmp_path: Path, autojump_clock) -> None:
    store, conn = _open(tmp_path / "q.db")
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, virtual_now, inline=True)
    records = WriterRecords(send)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        await records.control()
        conn.io_error = True
        t0 = trio.current_time()

        async def clear() -> None:
            await trio.sleep(20)
            conn.io_error = False

        nursery.start_soon(clear)
        await records.save_cursor(123.0)  # held, not failed
        assert trio.current_time() - t0 >= 20
        assert await records.cursor() == 123.0
        nursery.cancel_scope.cancel()
    store.close()


def test_other_sqlite_errors_are_not_storage_faults(tmp_path: Path) -> None:
    trading, _ = _open(tmp_path / "t.db")
    jobs = SqliteJobStore.open(tmp_path / "j.db")
    trading.close()
    jobs.close()
    with pytest.raises(sqlite3.ProgrammingError):  # a closed connection is a bug, not a fault
        trading.apply([ReadControl()], 0.0, POLICY)
    with pytest.raises(sqlite3.ProgrammingError):
        jobs.apply([], 0.0, POLICY)


async def test_a_read_only_commit_does_not_end_a_disk_full_fault(
    tmp_path: Path, autojump_clock
) -> None:
    path = tmp_path / "q.db"
    store, conn = _open(path)
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, virtual_now, inline=False)  # two batches in flight
    queue = PersistentJobQueue(send)
    fault = Fault("disk_full", path, conn)
    faulted, cleared = trio.Event(), trio.Event()
    writer.health.listen(lambda f: (faulted if f is not None else cleared).set())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        await queue.stats()
        fault.start()
        nursery.start_soon(queue.enqueue, [NewJob("report", "big", BIG)])
        await faulted.wait()
        await queue.stats()  # commits beside the held batch: reads need no new page
        assert writer.health.fault is not None  # proves nothing about the full disk
        fault.stop()
        await cleared.wait()
        assert (await queue.stats()).total(JobStatus.PENDING) == 1
        nursery.cancel_scope.cancel()
    store.close()

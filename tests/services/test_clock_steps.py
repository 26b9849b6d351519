"""Wall-clock steps under MockClock: the wall function jumps while the scheduler sleeps.

The daemon's clock follows the system clock (``VirtualClock(wall=time.time)``); here the
wall is a function of Trio time plus an offset the test steps, as NTP or a resumed
suspend would.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import trio

from finagent.adapters.clocks import SystemClock, VirtualClock
from finagent.adapters.exchange_calendar import XcalsExchangeCalendar
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.domain.jobs import Job, JobStatus, NewJob, QueuePolicy
from finagent.domain.schedule import DEFAULT_JOB_TYPES, EntryValues
from finagent.services.dispatcher import Dispatcher
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest
from finagent.services.routing import trio_time_queue
from finagent.services.schedule_plan import compile_entries
from finagent.services.scheduler import MemoryScheduleCursor, Scheduler, SkipCounter
from tests.fakes.queue import FakeQueue

NY = ZoneInfo("America/New_York")
ENTRIES = {
    "time_stop": EntryValues("time_stop", at="close-30m", grace_s=900),
    "flatten": EntryValues("flatten", at="close-5m", grace_s=240),
    "daily_report": EntryValues("report", at="close+5m", grace_s=6 * 3600),
}


class SteppedWall:
    """A system clock that runs with Trio time until the test steps it."""

    def __init__(self, start: datetime) -> None:
        self.offset = start.timestamp() - trio.current_time()

    def __call__(self) -> float:
        return self.offset + trio.current_time()

    def step(self, seconds: float) -> None:
        self.offset += seconds


@functools.cache
def _xnys():
    return XcalsExchangeCalendar("XNYS")


def _ny(hh, mm, ss=0):
    return datetime(2026, 11, 25, hh, mm, ss, tzinfo=NY)  # a Wednesday, closes at 16:00


def _clock(start):
    wall = SteppedWall(start)
    steps: list[float] = []
    return VirtualClock(start, wall=wall, on_step=steps.append), wall, steps


def _scheduler(clock, queue, **kw):
    entries = compile_entries(
        ENTRIES, known_job_types=DEFAULT_JOB_TYPES, exchange_tz="America/New_York"
    )
    return Scheduler(entries, _xnys(), clock, queue, **kw)


def _fired(queue):
    return [(key.split(":")[1], at.astimezone(NY).strftime("%H:%M:%S")) for key, at in queue.calls]


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def _serving(nursery, scheduler):
    await nursery.start(lambda task_status: scheduler.serve(task_status=task_status))


async def test_the_issue_run_minus_5_then_plus_10_fires_the_time_stop_at_once(
    autojump_clock, caplog
):
    clock, wall, steps = _clock(_ny(15, 24))
    queue = FakeQueue(clock)
    async with trio.open_nursery() as nursery:
        await _serving(nursery, _scheduler(clock, queue))
        await trio.sleep(60.5)  # 15:25, mid-nap
        wall.step(-300)  # 15:20
        await trio.sleep(60)  # 15:21
        wall.step(600)  # 15:31: the 15:30 time stop is 1 min late, well within its 15 min
        t_step = trio.current_time()
        await trio.sleep(5)  # plain Trio sleeps: only the scheduler's own naps see the step
        # fired within the scheduler's 1 s nap of the step (15:31:00.5), not at 15:40
        ((_, fired_at),) = queue.calls
        assert _ny(15, 31) < fired_at <= _ny(15, 31, 1)
        assert trio.current_time() - t_step == 5
        await clock.sleep_until(_ny(16, 10))
        nursery.cancel_scope.cancel()
    assert _fired(queue) == [
        ("time_stop", "15:31:01"),
        ("flatten", "15:55:00"),
        ("daily_report", "16:05:00"),
    ]
    assert steps == [pytest.approx(-300), pytest.approx(600)]
    assert _warnings(caplog) == [
        "wall clock stepped backward by 300.0s (wall -299.0s vs monotonic 1.0s since the last"
        " reading); the schedule re-plans from the new time",
        "wall clock stepped forward by 600.0s (wall 601.0s vs monotonic 1.0s since the last"
        " reading); the schedule re-plans from the new time",
    ]


async def test_a_forward_step_fires_within_grace_at_once_and_skips_the_rest_once(
    autojump_clock, caplog
):
    clock, wall, steps = _clock(_ny(15, 20))
    queue = FakeQueue(clock)
    skips = SkipCounter()
    async with trio.open_nursery() as nursery:
        await _serving(nursery, _scheduler(clock, queue, on_skipped=skips))
        await trio.sleep(120.5)  # 15:22, mid-nap, asleep until the 15:30 time stop
        wall.step(35 * 60)  # 15:57: time stop (grace to 15:45) missed, flatten (to 15:59) due
        await trio.sleep(1)
        ((_, fired_at),) = queue.calls  # within a second of the step (15:57:00.5)
        assert _ny(15, 57) < fired_at <= _ny(15, 57, 1)
        assert skips.skipped == {"time_stop": 1}
        await trio.sleep(3600)  # 16:57+: the report fired on time at 16:05
        nursery.cancel_scope.cancel()
    assert _fired(queue) == [("flatten", "15:57:01"), ("daily_report", "16:05:00")]
    assert skips.skipped == {"time_stop": 1}  # logged and counted once
    assert steps == [pytest.approx(35 * 60)]
    step, skip = _warnings(caplog)
    assert step.startswith("wall clock stepped forward by 2100.0s")
    assert skip.startswith("schedule time_stop skipped: missed 2026-11-25T20:30:00+00:00")


async def test_a_backward_step_neither_fires_twice_nor_wakes_early_or_late(autojump_clock):
    clock, wall, steps = _clock(_ny(15, 25))
    queue = FakeQueue(clock)
    async with trio.open_nursery() as nursery:
        await _serving(nursery, _scheduler(clock, queue))
        await clock.sleep_until(_ny(15, 31))
        wall.step(-5 * 60)  # 15:26: the 15:30 time stop comes round again
        await trio.sleep(0.5)
        await clock.sleep_until(_ny(16, 0))
        nursery.cancel_scope.cancel()
    # the flatten fires when the stepped clock reads 15:55: 29 min after the step, not the
    # 24 min its pre-step Trio deadline said (15:50), nor later
    assert _fired(queue) == [("time_stop", "15:30:00"), ("flatten", "15:55:00")]
    assert steps == [pytest.approx(-300)]


async def test_a_restart_after_a_backward_step_does_not_replan_handled_firings(autojump_clock):
    clock, _, _ = _clock(_ny(15, 26))  # the wall stepped back from after 15:30
    cursor = MemoryScheduleCursor(_ny(15, 30))  # the time stop was handled
    queue = FakeQueue(clock)
    async with trio.open_nursery() as nursery:
        await _serving(nursery, _scheduler(clock, queue, cursor=cursor))
        await clock.sleep_until(_ny(15, 56))
        nursery.cancel_scope.cancel()
    assert _fired(queue) == [("flatten", "15:55:00")]  # no second time stop call


async def test_a_step_noticed_by_a_reader_wakes_every_sleeper_at_once(autojump_clock):
    clock, wall, steps = _clock(_ny(15, 0))
    woke: list[float] = []

    async def sleeper():
        await clock.sleep_until(_ny(15, 30))
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sleeper)
        await trio.sleep(10.5)  # mid-nap
        wall.step(3600)
        t_step = trio.current_time()
        assert clock.now() == datetime(2026, 11, 25, 21, 0, 10, 500000, tzinfo=UTC)
        await trio.sleep(0.1)
    assert woke == [t_step]
    assert steps == [pytest.approx(3600)]
    assert clock.sync() == 0.0  # reported once


async def test_slewing_is_absorbed_silently_and_the_clock_stays_on_the_wall(autojump_clock, caplog):
    clock, wall, steps = _clock(_ny(12, 0))
    for _ in range(100):
        await trio.sleep(1)
        wall.step(0.0005)  # 500 ppm: the most NTP slews
        clock.now()
    wall.step(0.9)  # under a second: not a step either
    assert clock.timestamp() == pytest.approx(wall(), abs=1e-6)
    assert steps == []
    assert _warnings(caplog) == []


async def test_a_clock_without_a_wall_never_steps_and_following_keeps_its_timeline(
    autojump_clock,
):
    plain = VirtualClock(_ny(9, 0), speed=60.0)
    await trio.sleep(1)
    assert plain.sync() == 0.0
    wall = SteppedWall(_ny(9, 0))  # the anchored wall differs from the timeline: that is fine
    follower = plain.following(wall, on_step=None)
    assert follower.now() == _ny(9, 1)
    await trio.sleep(1)
    assert follower.now() == _ny(9, 2)
    wall.step(2)  # two wall seconds are two minutes of a 60x timeline
    assert follower.now() == _ny(9, 4)


async def test_system_clock_naps_at_most_a_second_so_a_forward_step_ends_its_sleep(autojump_clock):
    wall = SteppedWall(_ny(15, 0))
    clock = SystemClock(time_fn=wall)
    woke: list[float] = []

    async def sleeper():
        await clock.sleep_until(_ny(15, 30))
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sleeper)
        await trio.sleep(10.5)
        wall.step(3600)
        t_step = trio.current_time()
    assert 0 < woke[0] - t_step <= 1.0


# --- delayed jobs (time stops, plan, retries): the dispatcher over a real SQLite queue ---

POLICY = QueuePolicy(lease_s=30.0, max_attempts=3, retry_base_s=1.0, retry_max_s=4.0)


async def _deliveries(tmp_path, start, run_at, step_after, step_s):
    """Enqueue one delayed time stop, step the wall, return (Trio wait, clock) at delivery."""
    clock, wall, _ = _clock(start)
    store = SqliteJobStore.open(tmp_path / "q.db")
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, clock.timestamp, inline=True)
    queue = PersistentJobQueue(send)
    # as the daemon wires it: polls up to 2 s, sleeps to run_at in Trio time
    dispatcher = Dispatcher(trio_time_queue(queue, clock.trio_deadline), trio.current_time)
    writer.listen(dispatcher.on_commit)
    mailbox, jobs = trio.open_memory_channel[Job](4)
    dispatcher.register("execution", ["time_stop"], mailbox)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.serve, receive)
            nursery.start_soon(dispatcher.run)
            await queue.enqueue([NewJob("time_stop", "time_stop:AAPL", run_at=run_at)])
            await trio.sleep(step_after)
            wall.step(step_s)
            t_step = trio.current_time()
            await jobs.receive()
            got = (trio.current_time() - t_step, clock.now())
            nursery.cancel_scope.cancel()
    finally:
        store.close()
    return got


async def test_a_forward_step_runs_a_delayed_time_stop_within_the_dispatcher_poll(
    tmp_path, autojump_clock
):
    waited, at = await _deliveries(tmp_path, _ny(15, 0), _ny(15, 30).timestamp(), 60, 40 * 60)
    assert waited <= 2.01  # poll_max_s (the dispatcher had slept towards a 29 min deadline)
    assert at <= _ny(15, 41, 2)


async def test_a_backward_step_runs_a_delayed_time_stop_when_the_stepped_clock_reaches_it(
    tmp_path, autojump_clock
):
    waited, at = await _deliveries(tmp_path, _ny(15, 29), _ny(15, 30).timestamp(), 30, -5 * 60)
    # run_at is an exchange instant: due at 15:30 by the stepped wall (5.5 min on), no later
    assert _ny(15, 30) <= at <= _ny(15, 30, 2)
    assert 330 <= waited <= 332


async def test_a_forward_step_past_lease_s_recovers_the_job_in_flight_once(
    tmp_path, autojump_clock
):
    clock, wall, _ = _clock(_ny(15, 0))
    store = SqliteJobStore.open(tmp_path / "q.db")
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, POLICY, clock.timestamp, inline=True, housekeeping_s=1.0)
    queue = PersistentJobQueue(send)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.serve, receive)
            (job,) = await queue.enqueue([NewJob("execute", "execute:AAPL")])
            await queue.claim(["execute"], 1, "node/execution")
            wall.step(POLICY.lease_s - 5)  # under lease_s: the lease holds
            await trio.sleep(2)
            await queue.stats()
            assert (await queue.get(job.id)).status is JobStatus.RUNNING
            wall.step(10)  # past it: recovered, as if its worker had died
            await trio.sleep(2)
            await queue.stats()
            recovered = await queue.get(job.id)
            nursery.cancel_scope.cancel()
    finally:
        store.close()
    assert recovered.status is JobStatus.PENDING and recovered.attempts == 1
    assert recovered.last_error.startswith("lease of node/execution lost after attempt 1")

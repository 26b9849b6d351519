"""Property tests: random crash schedules and message streams, each run in virtual time."""

from __future__ import annotations

import random

import trio
import trio.testing
from actor_workers import Crash, Note, Ping, Worker
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import (
    ActorContext,
    ActorRestarted,
    Backoff,
    ChildSpec,
    Restart,
    SupervisorGaveUp,
    SupervisorGaveUpError,
    SupervisorSpec,
    open_supervisor,
    run_supervisor,
)
from actors.testing import RecordingObserver

NO_BACKOFF = Backoff(base=0.0, max=0.0, jitter=0.0)

step = st.tuples(st.integers(0, 6), st.sampled_from(["crash", "return"]))


def run_virtual(main) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def model(restart: Restart, max_restarts: int, max_seconds: int, schedule):
    """What OTP semantics predict: (incarnations, outcome, time of the last exit)."""
    t, window = 0, []
    for k, (delay, kind) in enumerate(schedule):
        t += delay
        if restart is Restart.TEMPORARY or (restart is Restart.TRANSIENT and kind == "return"):
            return k + 1, "finished", t
        window = [x for x in [*window, t] if t - x < max_seconds]
        if len(window) > max_restarts:
            return k + 1, "gave_up", t
    return len(schedule) + 1, "alive", t


@settings(max_examples=150, deadline=None)
@given(
    restart=st.sampled_from(list(Restart)),
    max_restarts=st.integers(0, 4),
    max_seconds=st.integers(1, 10),
    schedule=st.lists(step, max_size=12),
)
def test_random_crash_schedules_follow_the_intensity_rule(
    restart, max_restarts, max_seconds, schedule
):
    incarnations, outcome, t_end = model(restart, max_restarts, max_seconds, schedule)
    observer = RecordingObserver()
    runs: list[int] = []

    async def child(ctx: ActorContext[Ping]) -> None:
        ctx.started()
        k = len(runs)
        runs.append(k)
        if k < len(schedule):
            delay, kind = schedule[k]
            await trio.sleep(delay)
            if kind == "crash":
                raise ValueError(f"crash {k}")
            return
        async for msg in ctx.inbox:
            msg.reply_to.reply(("w", k + 1))

    spec = SupervisorSpec(
        "root",
        [ChildSpec("w", child, restart=restart)],
        max_restarts=max_restarts,
        max_seconds=float(max_seconds),
        backoff=NO_BACKOFF,
    )

    async def main() -> None:
        t0 = trio.current_time()
        gave_up_at: list[float] = []

        async def runner(task_status=trio.TASK_STATUS_IGNORED) -> None:
            try:
                await run_supervisor(spec, observer, None, task_status=task_status)
            except SupervisorGaveUpError:
                gave_up_at.append(trio.current_time() - t0)

        async with trio.open_nursery() as nursery:
            sup = await nursery.start(runner)
            await trio.sleep(t_end + 1)
            if outcome == "gave_up":
                assert gave_up_at == [t_end]
                assert observer.names(SupervisorGaveUp) == ["root"]
            else:
                assert gave_up_at == []
                if outcome == "alive":  # a restarted child is never left dead
                    assert await sup.ask("w", Ping) == ("w", incarnations)
                await sup.stop()
        assert len(runs) == incarnations
        assert len(observer.of(ActorRestarted)) == incarnations - 1

    run_virtual(main)


@settings(max_examples=100, deadline=None)
@given(
    stream=st.lists(st.one_of(st.integers(0, 999).map(Note), st.just(Crash())), max_size=40),
    mailbox_size=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_queued_message_is_lost_across_restarts(stream, mailbox_size, seed):
    worker = Worker("w")
    crashes = sum(isinstance(m, Crash) for m in stream)
    spec = SupervisorSpec(
        "root",
        [ChildSpec("w", worker.run, mailbox_size=mailbox_size)],
        max_restarts=crashes,
        backoff=Backoff(base=0.5, max=2.0, jitter=0.5),
    )

    async def main() -> None:
        async with open_supervisor(spec, None, random.Random(seed).random) as sup:
            for msg in stream:  # blocks while the mailbox is full, also during back-off
                await sup.send("w", msg)
            assert await sup.ask("w", Ping, timeout=1000) == ("w", crashes + 1)

    run_virtual(main)
    assert worker.seen == [m.value for m in stream if isinstance(m, Note)]

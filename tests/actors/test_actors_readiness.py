"""Readiness: actors declare started, start deadlines, `ctx.background`, who builds supervisors."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from actors import (
    ActorContext,
    ActorExited,
    ActorRestarted,
    ActorStarted,
    Backoff,
    ChildSpec,
    ExitReason,
    Registry,
    Restart,
    StartTimeoutError,
    Supervisor,
    SupervisorGaveUpError,
    SupervisorSpec,
    open_supervisor,
    run_supervisor,
)
from actors.events import NullObserver
from actors.testing import RecordingObserver

NO_BACKOFF = Backoff(base=0.0, max=0.0, jitter=0.0)


async def test_start_returns_only_once_the_actor_declared_started(autojump_clock, observer):
    async def slow_to_recover(ctx: ActorContext[object]) -> None:
        await trio.sleep(7)  # e.g. a writer recovering leases
        ctx.started()
        ctx.started()  # a second declaration changes nothing
        await ctx.stopping.wait()

    async def after(ctx: ActorContext[object]) -> None:
        ctx.started()
        await ctx.stopping.wait()

    spec = SupervisorSpec("root", [ChildSpec("slow", slow_to_recover), ChildSpec("b", after)])
    t0 = trio.current_time()
    async with open_supervisor(spec, observer):
        assert trio.current_time() - t0 == 7
        assert observer.names(ActorStarted) == ["slow", "b", "root"]


async def test_a_start_deadline_counts_as_a_crash_and_gives_up_like_one(autojump_clock, observer):
    async def never_ready(ctx: ActorContext[object]) -> None:
        await trio.sleep_forever()

    spec = SupervisorSpec(
        "root",
        [ChildSpec("stuck", never_ready, start_timeout=2.0)],
        max_restarts=1,
        max_seconds=60,
        backoff=NO_BACKOFF,
    )
    t0 = trio.current_time()
    with pytest.raises(SupervisorGaveUpError) as raised:
        await run_supervisor(spec, observer)
    assert isinstance(raised.value.__cause__, StartTimeoutError)
    assert "'stuck' did not declare started within 2.0 s" in str(raised.value.__cause__)
    assert trio.current_time() - t0 == 4  # two 2-s deadlines: the first start, one restart
    failed = [e for e in observer.of(ActorExited) if e.reason is ExitReason.ERROR]
    assert [type(e.exc) for e in failed] == [StartTimeoutError, StartTimeoutError]
    assert observer.names(ActorStarted) == ["root"]  # the start ended, in failure
    assert observer.names(ActorRestarted) == ["stuck"]


async def test_an_actor_that_exits_before_declaring_ends_its_start(autojump_clock, observer):
    async def quits(ctx: ActorContext[object]) -> None:
        await trio.lowlevel.checkpoint()

    spec = SupervisorSpec("root", [ChildSpec("quits", quits, restart=Restart.TEMPORARY)])
    async with open_supervisor(spec, observer):
        assert [(e.name, e.reason) for e in observer.of(ActorExited)] == [
            ("quits", ExitReason.NORMAL)
        ]
        assert observer.names(ActorStarted) == ["root"]


async def test_a_restarted_actor_is_started_again_only_when_it_declares(autojump_clock, observer):
    ready_again = trio.Event()
    incarnations: list[ActorContext[object]] = []

    async def flaky(ctx: ActorContext[object]) -> None:
        incarnations.append(ctx)
        if len(incarnations) == 1:
            ctx.started()
            raise ValueError("first incarnation crashes")
        await ready_again.wait()
        ctx.started()
        await ctx.stopping.wait()

    spec = SupervisorSpec("root", [ChildSpec("flaky", flaky)], backoff=NO_BACKOFF)
    async with open_supervisor(spec, observer):
        await trio.testing.wait_all_tasks_blocked()
        assert observer.names(ActorStarted) == ["flaky", "root"]  # restarted, not declared
        incarnations[0].started()  # a stale context of the crashed incarnation: ignored
        assert observer.names(ActorStarted) == ["flaky", "root"]
        ready_again.set()
        await trio.testing.wait_all_tasks_blocked()
        assert observer.names(ActorStarted) == ["flaky", "root", "flaky"]


async def test_background_runs_until_stopping_then_cancels(autojump_clock, observer):
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(trio.current_time())
            await trio.sleep(1)

    async def ticker(ctx: ActorContext[object]) -> None:
        ctx.started()
        await ctx.background(tick)
        ticks.append(-1.0)  # background returned: the actor finishes normally

    spec = SupervisorSpec("root", [ChildSpec("ticker", ticker, shutdown_timeout=60)])
    t0 = trio.current_time()
    async with open_supervisor(spec, observer) as sup:
        await trio.sleep(2.5)
        await sup.stop()
        assert trio.current_time() - t0 == 2.5  # stopped at once, not after the timeout
    assert [t - t0 for t in ticks] == [0, 1, 2, -1 - t0]
    assert [e.reason for e in observer.of(ActorExited)] == [ExitReason.SHUTDOWN]


async def test_background_declares_started_when_its_function_does(autojump_clock, observer):
    async def arm(delay: float, *, task_status: trio.TaskStatus[None]) -> None:
        await trio.sleep(delay)  # e.g. a scheduler catching up
        task_status.started()
        await trio.sleep_forever()

    async def armed(ctx: ActorContext[object]) -> None:
        await ctx.background(arm, 3.0, declare_started=True)

    spec = SupervisorSpec("root", [ChildSpec("armed", armed)])
    t0 = trio.current_time()
    async with open_supervisor(spec, observer):
        assert trio.current_time() - t0 == 3
        assert observer.names(ActorStarted) == ["armed", "root"]


async def test_background_ends_the_actor_when_its_function_returns(autojump_clock, observer):
    async def once() -> None:
        await trio.sleep(1)

    async def brief(ctx: ActorContext[object]) -> None:
        ctx.started()
        await ctx.background(once)

    spec = SupervisorSpec("root", [ChildSpec("brief", brief, restart=Restart.TEMPORARY)])
    async with open_supervisor(spec, observer):
        await trio.sleep(5)
        assert [e.reason for e in observer.of(ActorExited)] == [ExitReason.NORMAL]


async def test_a_crash_in_background_is_the_actors_crash(autojump_clock, observer):
    async def boom() -> None:
        raise KeyError("k")

    async def fragile(ctx: ActorContext[object]) -> None:
        ctx.started()
        await ctx.background(boom)

    spec = SupervisorSpec("root", [ChildSpec("fragile", fragile, restart=Restart.TEMPORARY)])
    async with open_supervisor(spec, observer):
        await trio.testing.wait_all_tasks_blocked()
    (crash,) = observer.of(ActorExited)
    assert crash.reason is ExitReason.ERROR
    assert isinstance(crash.exc, ExceptionGroup)  # raised through the actor's nursery
    assert crash.exc.subgroup(KeyError) is not None


async def test_a_nested_supervisor_is_ready_when_its_children_are(autojump_clock, observer):
    async def late(ctx: ActorContext[object]) -> None:
        await trio.sleep(4)
        ctx.started()
        await ctx.stopping.wait()

    inner = SupervisorSpec("inner", [ChildSpec("late", late)])
    t0 = trio.current_time()
    async with open_supervisor(SupervisorSpec("root", [inner]), observer):
        assert trio.current_time() - t0 == 4
        assert observer.names(ActorStarted) == ["late", "inner", "root"]


def test_a_supervisor_cannot_be_built_by_hand():
    with pytest.raises(TypeError, match="open_supervisor or run_supervisor"):
        Supervisor(SupervisorSpec("root"), Registry(), NullObserver(), lambda: 0.5, nested=False)


def test_the_start_timeout_must_be_positive():
    async def idle(ctx: ActorContext[object]) -> None:
        await trio.lowlevel.checkpoint()

    with pytest.raises(ValueError, match="invalid child spec 'x'"):
        ChildSpec("x", idle, start_timeout=0)


async def test_run_supervisor_hands_back_the_tree_once_it_is_ready(autojump_clock):
    async def ready_at_5(ctx: ActorContext[object]) -> None:
        await trio.sleep(5)
        ctx.started()
        await ctx.stopping.wait()

    observer = RecordingObserver()
    async with trio.open_nursery() as nursery:
        t0 = trio.current_time()
        sup = await nursery.start(
            run_supervisor, SupervisorSpec("root", [ChildSpec("a", ready_at_5)]), observer
        )
        assert trio.current_time() - t0 == 5
        await sup.stop()

"""Supervisor behaviour: strategies, restart types, intensity, back-off, shutdown, nesting."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing
from actor_workers import Crash, Note, Ping, Stop, Worker

from actors import (
    ActorContext,
    ActorDeadError,
    ActorExited,
    ActorRestarted,
    ActorStarted,
    Backoff,
    ChildSpec,
    ExitReason,
    Registry,
    Restart,
    Strategy,
    Supervisor,
    SupervisorEscalated,
    SupervisorGaveUp,
    SupervisorGaveUpError,
    SupervisorSpec,
    open_supervisor,
    run_supervisor,
)
from actors.testing import RecordingObserver

NO_BACKOFF = Backoff(base=0.0, max=0.0, jitter=0.0)


def tree(*workers: Worker, **options: object) -> SupervisorSpec:
    options.setdefault("backoff", NO_BACKOFF)
    return SupervisorSpec("root", [ChildSpec(w.name, w.run) for w in workers], **options)  # type: ignore[arg-type]


async def starts(sup: Supervisor, name: str) -> int:
    """Ask `name` which incarnation answers (waits for a pending restart)."""
    _, incarnation = await sup.ask(name, Ping, timeout=60)
    return incarnation


async def settle() -> None:
    """Let every task run until all are blocked (no virtual time passes)."""
    await trio.testing.wait_all_tasks_blocked()


def exits(observer: RecordingObserver, reason: ExitReason) -> list[str]:
    return [e.name for e in observer.of(ActorExited) if e.reason is reason]


async def test_children_start_in_order_and_stop_in_reverse(autojump_clock, observer):
    a, b, c = Worker("a"), Worker("b"), Worker("c")
    async with open_supervisor(tree(a, b, c), observer) as sup:
        assert observer.names(ActorStarted) == ["a", "b", "c", "root"]
        assert sup.name == "root"
    assert exits(observer, ExitReason.SHUTDOWN) == ["c", "b", "a"]


async def test_one_for_one_crash_never_touches_a_sibling(autojump_clock, observer):
    a, b = Worker("a"), Worker("b")
    async with open_supervisor(tree(a, b), observer) as sup:
        await sup.send("b", Note(1))
        await sup.send("a", Crash())
        assert await starts(sup, "a") == 2
        assert await starts(sup, "b") == 1
        await sup.send("b", Note(2))
        await starts(sup, "b")
    assert b.seen == [1, 2]
    assert observer.names(ActorRestarted) == ["a"]
    assert [e.name for e in observer.of(ActorExited)][:1] == ["a"]


async def test_one_for_all_restarts_every_child_in_order(autojump_clock, observer):
    a, b, c = Worker("a"), Worker("b"), Worker("c")
    async with open_supervisor(tree(a, b, c, strategy=Strategy.ONE_FOR_ALL), observer) as sup:
        await sup.send("b", Crash())
        await settle()
        assert [await starts(sup, n) for n in "abc"] == [2, 2, 2]
        assert exits(observer, ExitReason.SHUTDOWN) == ["c", "a"]
        assert observer.names(ActorStarted)[4:] == ["a", "b", "c"]
        assert observer.names(ActorRestarted) == ["a", "b", "c"]


async def test_rest_for_one_restarts_the_child_and_those_after_it(autojump_clock, observer):
    a, b, c = Worker("a"), Worker("b"), Worker("c")
    async with open_supervisor(tree(a, b, c, strategy=Strategy.REST_FOR_ONE), observer) as sup:
        await sup.send("b", Crash())
        await settle()
        assert [await starts(sup, n) for n in "abc"] == [1, 2, 2]
        assert exits(observer, ExitReason.SHUTDOWN) == ["c"]
        assert observer.names(ActorStarted)[4:] == ["b", "c"]


@pytest.mark.parametrize(
    ("restart", "msg", "restarted"),
    [
        (Restart.PERMANENT, Crash(), True),
        (Restart.PERMANENT, Stop(), True),
        (Restart.TRANSIENT, Crash(), True),
        (Restart.TRANSIENT, Stop(), False),
        (Restart.TEMPORARY, Crash(), False),
        (Restart.TEMPORARY, Stop(), False),
    ],
)
async def test_restart_types(autojump_clock, observer, restart, msg, restarted):
    w = Worker("w")
    spec = SupervisorSpec("root", [ChildSpec("w", w.run, restart=restart)], backoff=NO_BACKOFF)
    async with open_supervisor(spec, observer) as sup:
        await sup.send("w", msg)
        await trio.sleep(1)
        assert w.starts == (2 if restarted else 1)
        if restart is Restart.TEMPORARY:  # a temporary child's mailbox closes with it
            with pytest.raises(ActorDeadError):
                await sup.send("w", Note(1))
    assert observer.names(ActorRestarted) == (["w"] if restarted else [])


async def test_group_restart_skips_temporary_but_revives_finished_transient(
    autojump_clock, observer
):
    a, temp, trans = Worker("a"), Worker("temp"), Worker("trans")
    spec = SupervisorSpec(
        "root",
        [
            ChildSpec("a", a.run),
            ChildSpec("temp", temp.run, restart=Restart.TEMPORARY),
            ChildSpec("trans", trans.run, restart=Restart.TRANSIENT),
        ],
        strategy=Strategy.ONE_FOR_ALL,
        backoff=NO_BACKOFF,
    )
    async with open_supervisor(spec, observer) as sup:
        await sup.send("trans", Stop())  # finished normally: not restarted by itself
        await trio.sleep(1)
        assert trans.starts == 1
        await sup.send("a", Crash())
        await settle()
        assert await starts(sup, "trans") == 2  # as in OTP, a group restart starts it again
        assert await starts(sup, "a") == 2
        assert temp.starts == 1
        with pytest.raises(ActorDeadError):
            await sup.send("temp", Note(1))


async def test_backoff_is_exponential_capped_and_jittered_exactly(autojump_clock, observer):
    w = Worker("w")
    backoff = Backoff(base=1.0, max=4.0, jitter=0.5)
    spec = tree(w, backoff=backoff, max_restarts=10, max_seconds=100.0)
    delays = []
    async with open_supervisor(spec, observer, lambda: 0.5) as sup:
        for _ in range(4):
            t0 = trio.current_time()
            await sup.send("w", Crash())
            await starts(sup, "w")
            delays.append(trio.current_time() - t0)
    # min(4, 1 * 2**(n-1)) * (1 - 0.5 * 0.5)
    assert delays == [0.75, 1.5, 3.0, 3.0]
    assert [(e.attempt, e.delay) for e in observer.of(ActorRestarted)] == [
        (1, 0.75),
        (2, 1.5),
        (3, 3.0),
        (4, 3.0),
    ]


async def test_group_restart_waits_the_backoff_once(autojump_clock, observer):
    a, b = Worker("a"), Worker("b")
    spec = tree(a, b, strategy=Strategy.ONE_FOR_ALL, backoff=Backoff(2.0, 10.0, 0.0))
    async with open_supervisor(spec, observer) as sup:
        t0 = trio.current_time()
        await sup.send("b", Crash())
        await settle()
        assert await starts(sup, "a") == 2
        assert trio.current_time() - t0 == 2.0


async def test_restarts_spread_over_the_window_never_give_up(autojump_clock, observer):
    w = Worker("w")
    async with open_supervisor(tree(w, max_restarts=1, max_seconds=5.0), observer) as sup:
        for _ in range(5):
            await sup.send("w", Crash())
            await trio.sleep(5)
        assert await starts(sup, "w") == 6
    assert observer.of(SupervisorGaveUp) == []


async def test_intensity_exceeded_stops_children_and_raises(autojump_clock, observer):
    w, other = Worker("w"), Worker("other")
    spec = tree(w, other, max_restarts=2, max_seconds=5.0)
    with pytest.RaisesGroup(pytest.RaisesExc(SupervisorGaveUpError, match="more than 2")):
        async with open_supervisor(spec, observer) as sup:
            for _ in range(3):
                await sup.send("w", Crash())
                await trio.sleep(1)
    assert observer.of(SupervisorGaveUp) == [SupervisorGaveUp("root", 2, 5.0)]
    assert exits(observer, ExitReason.SHUTDOWN) == ["other"]
    assert w.starts == 3


async def test_escalation_through_two_nested_levels(autojump_clock, observer):
    async def always_crash(ctx: ActorContext[object]) -> None:
        ctx.started()
        raise ValueError("leaf")

    sibling = Worker("sibling")
    mid = SupervisorSpec(
        "mid", [ChildSpec("leaf", always_crash)], max_restarts=1, backoff=NO_BACKOFF
    )
    root = SupervisorSpec(
        "root", [ChildSpec("sibling", sibling.run), mid], max_restarts=1, backoff=NO_BACKOFF
    )
    with pytest.raises(SupervisorGaveUpError, match="'root'") as info:
        await run_supervisor(root, observer)
    assert isinstance(info.value.__cause__, SupervisorGaveUpError)
    assert isinstance(info.value.__cause__.__cause__, ValueError)
    assert observer.names(SupervisorGaveUp) == ["mid", "mid", "root"]
    assert observer.names(SupervisorEscalated) == ["mid", "mid"]
    assert observer.names(ActorRestarted) == ["leaf", "mid", "leaf"]
    assert exits(observer, ExitReason.SHUTDOWN)[-1] == "sibling"


async def test_nested_supervisor_starts_before_next_sibling_and_stops_gracefully(
    autojump_clock, observer
):
    inner, after = Worker("inner"), Worker("after")
    mid = SupervisorSpec("mid", [ChildSpec("inner", inner.run)])
    spec = SupervisorSpec("root", [mid, ChildSpec("after", after.run)])
    async with open_supervisor(spec, observer) as sup:
        assert observer.names(ActorStarted) == ["inner", "mid", "after", "root"]
        await sup.mailbox("inner").send(Note(7))  # reach a nested actor from outside
        assert await starts(sup, "inner") == 1
    assert inner.seen == [7]
    assert exits(observer, ExitReason.SHUTDOWN) == ["after", "inner", "mid"]


async def test_shutdown_timeout_then_cancel(autojump_clock):
    cancelled = []

    async def stubborn(ctx: ActorContext[object]) -> None:
        ctx.started()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.append(trio.current_time())
            raise

    async def tidy(ctx: ActorContext[object]) -> None:
        ctx.started()
        await ctx.stopping.wait()
        await trio.sleep(1)  # finishes within its shutdown timeout

    spec = SupervisorSpec(
        "root",
        [
            ChildSpec("tidy", tidy, shutdown_timeout=5.0),
            ChildSpec("stubborn", stubborn, shutdown_timeout=3.0),
        ],
    )
    async with trio.open_nursery() as nursery:
        sup = await nursery.start(run_supervisor, spec)
        t0 = trio.current_time()
        await sup.stop()
        assert trio.current_time() - t0 == 4.0
    assert cancelled == [t0 + 3.0]


async def test_stop_during_one_for_one_backoff_is_immediate(autojump_clock, observer):
    w = Worker("w")
    async with open_supervisor(tree(w, backoff=Backoff(10.0, 10.0, 0.0)), observer) as sup:
        await sup.send("w", Crash())
        await trio.sleep(1)
        t0 = trio.current_time()
        await sup.stop()
        assert trio.current_time() == t0
    assert w.starts == 1


async def test_stop_during_group_backoff_starts_nothing(autojump_clock, observer):
    a, b = Worker("a"), Worker("b")
    spec = tree(a, b, strategy=Strategy.REST_FOR_ONE, backoff=Backoff(10.0, 10.0, 0.0))
    async with open_supervisor(spec, observer) as sup:
        await sup.send("b", Crash())
        await trio.sleep(1)
        await sup.send("a", Crash())  # queued while the supervisor waits: ignored once stopping
        await trio.sleep(1)
        t0 = trio.current_time()
        await sup.stop()
        assert trio.current_time() == t0
    assert (a.starts, b.starts) == (1, 1)
    assert observer.names(ActorRestarted) == ["b"]


async def test_simultaneous_crashes_under_one_for_all_restart_once(autojump_clock, observer):
    a, b = Worker("a"), Worker("b")
    async with open_supervisor(tree(a, b, strategy=Strategy.ONE_FOR_ALL), observer) as sup:
        sup.send_nowait("a", Crash())
        sup.send_nowait("b", Crash())
        await settle()
        assert [await starts(sup, n) for n in "ab"] == [2, 2]
    assert observer.names(ActorRestarted) == ["a", "b"]


@pytest.mark.parametrize(
    "children",
    [
        [ChildSpec("w", Worker("w").run), SupervisorSpec("s", [ChildSpec("w", Worker("w").run)])],
        [SupervisorSpec("root")],
    ],
)
async def test_duplicate_names_are_rejected(autojump_clock, children):
    with pytest.raises(ValueError, match="duplicate name"):
        await run_supervisor(SupervisorSpec("root", children))
    registry = Registry()
    registry.add("x", 1)
    with pytest.raises(ValueError, match="duplicate actor name"):
        registry.add("x", 1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Backoff(base=-1.0),
        lambda: Backoff(jitter=1.5),
        lambda: ChildSpec("x", Worker("x").run, shutdown_timeout=-1.0),
        lambda: ChildSpec("x", Worker("x").run, mailbox_size=-1),
        lambda: SupervisorSpec("s", max_restarts=-1),
        lambda: SupervisorSpec("s", max_seconds=0.0),
        lambda: SupervisorSpec("s", shutdown_timeout=-math.inf),
    ],
)
def test_invalid_specs_are_rejected(make):
    with pytest.raises(ValueError, match="invalid"):
        make()

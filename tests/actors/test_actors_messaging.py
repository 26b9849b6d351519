"""Mailboxes, send and ask: backpressure, timeouts, failures, and asks to dead actors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import trio
import trio.testing
from actor_workers import Crash, Note, Ping, Worker

from actors import (
    ActorContext,
    ActorDeadError,
    AskTimeoutError,
    ChildSpec,
    LoopLag,
    NoSuchActorError,
    ReplyTo,
    Restart,
    SupervisorSpec,
    open_supervisor,
    run_watchdog,
    watchdog_factory,
)
from actors.mailbox import Mailbox


@dataclass(frozen=True, slots=True)
class Div:
    """Asks the calculator for a / b."""

    a: int
    b: int
    reply_to: ReplyTo[float]


@dataclass(frozen=True, slots=True)
class Ignore:
    """Never answered."""

    reply_to: ReplyTo[int]


async def calculator(ctx: ActorContext[Div | Ignore]) -> None:
    ctx.started()
    async for msg in ctx.inbox:
        match msg:
            case Div(a, b, reply_to):
                try:
                    reply_to.reply(a / b)
                except ZeroDivisionError as exc:
                    reply_to.fail(exc)
            case Ignore():
                pass


def one(name: str, factory, **kw) -> SupervisorSpec:
    return SupervisorSpec("root", [ChildSpec(name, factory, **kw)])


async def test_ask_returns_the_reply_and_raises_the_callee_failure(autojump_clock):
    async with open_supervisor(one("calc", calculator)) as sup:
        assert await sup.ask("calc", lambda r: Div(6, 3, r)) == 2.0
        with pytest.raises(ZeroDivisionError):
            await sup.ask("calc", lambda r: Div(1, 0, r))


async def test_ask_times_out_exactly(autojump_clock):
    async with open_supervisor(one("calc", calculator)) as sup:
        t0 = trio.current_time()
        with pytest.raises(AskTimeoutError, match=r"'calc' did not reply within 2\.5 s"):
            await sup.ask("calc", Ignore, timeout=2.5)
        assert trio.current_time() - t0 == 2.5


async def test_late_and_double_replies_are_ignored(autojump_clock):
    holder: list[ReplyTo[int]] = []

    def make(reply_to: ReplyTo[int]) -> Ignore:
        holder.append(reply_to)
        return Ignore(reply_to)

    async with open_supervisor(one("calc", calculator)) as sup:
        with pytest.raises(AskTimeoutError):
            await sup.ask("calc", make, timeout=1.0)
        assert holder[0].done  # failed by the tree's ask timer
        holder[0].reply(1)  # the asker gave up: harmless


async def test_ask_into_a_full_mailbox_times_out_while_sending(autojump_clock):
    holder: list[ReplyTo[int]] = []

    async def late(ctx: ActorContext[Ignore]) -> None:
        ctx.started()
        await trio.sleep(10)  # mailbox size 0: nobody receives before t=10
        async for msg in ctx.inbox:
            holder.append(msg.reply_to)

    async with open_supervisor(one("late", late, mailbox_size=0)) as sup:
        t0 = trio.current_time()
        with pytest.raises(AskTimeoutError):
            await sup.ask("late", Ignore, timeout=1.0)  # never delivered
        with pytest.raises(AskTimeoutError):
            await sup.ask("late", Ignore, timeout=19.0)  # delivered at t=10, never answered
        assert trio.current_time() - t0 == 20.0
        assert not holder[0].done
        holder[0].reply(1)  # the asker closed its end: the late reply is dropped
        assert holder[0].done


async def test_asks_still_waiting_fail_when_the_tree_stops(autojump_clock):
    holder: list[ReplyTo[int]] = []
    outcomes: list[BaseException] = []

    async def hoarder(ctx: ActorContext[Ignore]) -> None:
        ctx.started()
        async for msg in ctx.inbox:
            holder.append(msg.reply_to)  # keeps the ask to answer later, then never does

    async def asker(sup) -> None:
        try:
            await sup.ask("hoarder", Ignore, timeout=100)
        except ActorDeadError as exc:
            outcomes.append(exc)

    async with trio.open_nursery() as nursery, open_supervisor(one("hoarder", hoarder)) as sup:
        nursery.start_soon(asker, sup)
        nursery.start_soon(asker, sup)
        await trio.sleep(1)
        assert len(holder) == 2
    assert len(outcomes) == 2
    assert trio.current_time() == 1.0


async def test_ask_to_an_actor_that_crashes_on_it_fails_fast(autojump_clock):
    @dataclass(frozen=True, slots=True)
    class Boom:
        reply_to: ReplyTo[int]

    async def bomb(ctx: ActorContext[Boom]) -> None:
        ctx.started()
        async for _ in ctx.inbox:
            raise RuntimeError("bomb")

    async with open_supervisor(one("bomb", bomb)) as sup:
        t0 = trio.current_time()
        with pytest.raises(ActorDeadError, match="'bomb' died before it replied"):
            await sup.ask("bomb", Boom)
        assert trio.current_time() == t0


async def test_queued_asks_fail_when_the_tree_stops(autojump_clock):
    gate = trio.Event()

    async def slow(ctx: ActorContext[Ping]) -> None:
        ctx.started()
        await gate.wait()

    outcomes: list[BaseException] = []

    async def asker(sup) -> None:
        try:
            await sup.ask("slow", Ping)
        except ActorDeadError as exc:
            outcomes.append(exc)

    async with (
        open_supervisor(one("slow", slow, shutdown_timeout=1.0)) as sup,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(asker, sup)
        await trio.testing.wait_all_tasks_blocked()
        await sup.stop()
    assert len(outcomes) == 1
    with pytest.raises(ActorDeadError):
        await sup.send("slow", Note(1))
    with pytest.raises(ActorDeadError):
        sup.send_nowait("slow", Note(1))
    with pytest.raises(ActorDeadError):
        await sup.ask("slow", Ping)


async def test_unknown_peer(autojump_clock):
    async def caller(ctx: ActorContext[object]) -> None:
        ctx.started()
        with pytest.raises(NoSuchActorError):
            await ctx.send("nobody", Note(1))
        with pytest.raises(NoSuchActorError):
            ctx.send_nowait("nobody", Note(1))
        with pytest.raises(NoSuchActorError):
            ctx.peer("nobody")
        await ctx.peer("temp").send(Crash())  # a temporary peer: gone after its crash
        await trio.sleep(1)
        with pytest.raises(ActorDeadError):
            await ctx.send("temp", Note(1))
        with pytest.raises(ActorDeadError):
            ctx.send_nowait("temp", Note(1))
        reached.set()
        await trio.sleep_forever()

    reached = trio.Event()
    temp = Worker("temp")
    spec = SupervisorSpec(
        "root",
        [ChildSpec("temp", temp.run, restart=Restart.TEMPORARY), ChildSpec("caller", caller)],
    )
    async with open_supervisor(spec) as sup:
        with pytest.raises(LookupError):
            sup.mailbox("nobody")
        await reached.wait()


async def test_peers_talk_by_name_with_backpressure(autojump_clock):
    got: list[int] = []
    sent: list[float] = []

    async def producer(ctx: ActorContext[object]) -> None:
        ctx.started()
        for i in range(4):
            if i == 2:  # the mailbox (size 2) is full and the consumer still asleep
                with pytest.raises(trio.WouldBlock):
                    ctx.send_nowait("consumer", Note(99))
            await ctx.send("consumer", Note(i))
            sent.append(trio.current_time())
        assert await ctx.ask("consumer", Ping) == ("consumer", 1)
        await trio.sleep_forever()

    async def consumer(ctx: ActorContext[object]) -> None:
        ctx.started()
        await trio.sleep(10)  # slow start: the producer must wait for room
        async for msg in ctx.inbox:
            match msg:
                case Note(v):
                    got.append(v)
                case Ping(r):
                    r.reply((ctx.name, 1))

    spec = SupervisorSpec(
        "root",
        [ChildSpec("consumer", consumer, mailbox_size=2), ChildSpec("producer", producer)],
    )
    async with open_supervisor(spec) as sup:
        await trio.sleep(20)
        assert got == [0, 1, 2, 3]
        assert sent == [0.0, 0.0, 10.0, 10.0]
        assert isinstance(sup.mailbox("consumer"), trio.MemorySendChannel)


async def test_messages_queued_before_a_restart_survive_it(autojump_clock):
    w = Worker("w")
    async with open_supervisor(SupervisorSpec("root", [ChildSpec("w", w.run)])) as sup:
        for msg in [Note(1), Crash(), Note(2), Note(3), Crash(), Note(4)]:
            sup.send_nowait("w", msg)
        await sup.ask("w", Ping)
    assert w.seen == [1, 2, 3, 4]
    assert w.starts == 3


async def test_inbox_api(autojump_clock):
    mailbox = Mailbox[int]("m", 4)
    inbox = mailbox.open_inbox()
    with pytest.raises(trio.WouldBlock):
        inbox.receive_nowait()
    mailbox.send_channel.send_nowait(1)
    mailbox.send_channel.send_nowait(2)
    assert inbox.statistics().current_buffer_used == 2
    assert mailbox.statistics().max_buffer_size == 4
    assert inbox.receive_nowait() == 1
    assert await inbox.receive() == 2
    assert inbox.current == 2
    mailbox.send_channel.send_nowait(3)
    await inbox.aclose()  # this incarnation stops reading; the message stays queued
    with pytest.raises(trio.EndOfChannel):
        await inbox.receive()
    with pytest.raises(trio.EndOfChannel):
        inbox.receive_nowait()
    assert await mailbox.open_inbox().receive() == 3
    assert not mailbox.closed
    mailbox.close()
    assert mailbox.closed


async def test_watchdog_reports_loop_lag(autojump_clock):
    from actors.testing import RecordingObserver

    observer = RecordingObserver()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_watchdog, observer, 1.0)
        await trio.sleep(0.5)
        autojump_clock.jump(0.75)  # as if the loop were blocked: the 1 s tick wakes at 1.25
        await trio.sleep(1.5)
        nursery.cancel_scope.cancel()
    assert [e.seconds for e in observer.of(LoopLag)] == [0.25, 0.0]
    with pytest.raises(ValueError, match="interval"):
        await run_watchdog(observer, 0)


async def test_watchdog_as_a_child_actor(autojump_clock):
    from actors.testing import RecordingObserver

    observer = RecordingObserver()
    spec = SupervisorSpec("root", [ChildSpec("wd", watchdog_factory(observer, 2.0))])
    async with open_supervisor(spec):
        await trio.sleep(5)
    assert observer.of(LoopLag) == [LoopLag("wd", 0.0), LoopLag("wd", 0.0)]

"""The ask machinery: one-shot reply slots, the tree's timer and its heap."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import trio
import trio.testing
from actor_workers import Ping

from actors import (
    ActorContext,
    ActorDeadError,
    AskTimeoutError,
    ChildSpec,
    NoSuchActorError,
    ReplyTo,
    SupervisorSpec,
    open_supervisor,
)
from actors.ask import AskTimer, ask_via
from actors.mailbox import Mailbox


@dataclass(frozen=True, slots=True)
class Hold:
    """Kept by the hoarder, answered later (or never)."""

    reply_to: ReplyTo[int]


async def test_reply_slot_keeps_the_first_answer_and_drops_late_replies(autojump_clock):
    ok: ReplyTo[int] = ReplyTo()
    ok.reply(1)
    ok.reply(2)  # a double reply is ignored
    assert ok.done
    assert await ok.wait() == 1
    err = ValueError("no")
    failed: ReplyTo[int] = ReplyTo()
    failed.fail(err)
    with pytest.raises(ValueError) as raised:
        await failed.wait()
    assert raised.value is err
    late: ReplyTo[int] = ReplyTo()
    with trio.move_on_after(1):
        await late.wait()
    assert not late.done
    late.reply(3)  # the waiter left: dropped
    assert late.done


async def test_reply_slot_wakes_a_parked_waiter(autojump_clock):
    slot: ReplyTo[str] = ReplyTo()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(slot.wait)
        await trio.testing.wait_all_tasks_blocked()
        slot.reply("x")
    assert slot.done


async def test_a_reply_before_the_asker_waits_is_returned(autojump_clock):
    def answered(reply_to: ReplyTo[int]) -> Hold:
        reply_to.reply(7)
        return Hold(reply_to)

    def failed(reply_to: ReplyTo[int]) -> Hold:
        reply_to.fail(KeyError("k"))
        return Hold(reply_to)

    async def ignore(ctx: ActorContext[Hold]) -> None:
        ctx.started()
        async for _ in ctx.inbox:
            pass

    async with open_supervisor(SupervisorSpec("root", [ChildSpec("i", ignore)])) as sup:
        assert await sup.ask("i", answered) == 7
        with pytest.raises(KeyError):
            await sup.ask("i", failed)


async def test_unknown_peer_asks_raise_no_such_actor(autojump_clock):
    async def caller(ctx: ActorContext[object]) -> None:
        ctx.started()
        with pytest.raises(NoSuchActorError):
            await ctx.ask("nobody", Ping)
        done.set()
        await trio.sleep_forever()

    done = trio.Event()
    async with open_supervisor(SupervisorSpec("root", [ChildSpec("caller", caller)])) as sup:
        await done.wait()
        with pytest.raises(NoSuchActorError):
            await sup.ask("nobody", Ping)


async def test_ask_via_a_closed_mailbox_without_a_timer_is_actor_dead():
    mailbox = Mailbox[object]("gone", 0)
    mailbox.close()
    with pytest.raises(ActorDeadError):
        await ask_via(mailbox.send_channel, "gone", Hold)
    async with trio.open_nursery() as nursery:
        timer = AskTimer()
        await nursery.start(timer.run)
        with pytest.raises(ActorDeadError):  # the fast path, with a running timer
            await ask_via(mailbox.send_channel, "gone", Hold, 1.0, timer)
        nursery.cancel_scope.cancel()


async def test_a_cancelled_asker_leaves_cleanly_and_late_replies_are_dropped(autojump_clock):
    holder: list[ReplyTo[int]] = []

    async def hoarder(ctx: ActorContext[Hold]) -> None:
        ctx.started()
        async for msg in ctx.inbox:
            holder.append(msg.reply_to)

    async with open_supervisor(SupervisorSpec("root", [ChildSpec("h", hoarder)])) as sup:
        with trio.move_on_after(1.0) as scope:
            await sup.ask("h", Hold, timeout=10.0)
        assert scope.cancelled_caught
        assert not holder[0].done
        holder[0].reply(1)  # nobody waits any more: dropped
        assert holder[0].done
        await trio.sleep(20)  # the timer passes the deadline of an answered ask: nothing happens
        assert trio.current_time() == 21.0


async def test_the_timer_heap_drops_answered_asks_and_keeps_pending_ones(autojump_clock):
    timer = AskTimer()
    async with trio.open_nursery() as nursery:
        await nursery.start(timer.run)
        pending = [ReplyTo[int]() for _ in range(100)]
        for reply_to in pending:
            timer.add(reply_to, "p", 5.0)
        for i in range(10_000):  # answered asks: the heap must not keep them until 5 s pass
            reply_to = ReplyTo[int]()
            timer.add(reply_to, "p", 5.0)
            reply_to.reply(i)
            assert len(timer) <= 2 * len(pending) + 1
        t0 = trio.current_time()
        for reply_to in pending:  # every pending ask still times out, on time
            with pytest.raises(AskTimeoutError, match=r"'p' did not reply within 5\.0 s"):
                await reply_to.wait()
        assert trio.current_time() - t0 == 5.0
        assert len(timer) == 0
        nursery.cancel_scope.cancel()


async def test_the_timer_heap_stays_small_under_a_steady_ask_rate(autojump_clock):
    async def echo(ctx: ActorContext[Hold]) -> None:
        ctx.started()
        async for msg in ctx.inbox:
            msg.reply_to.reply(1)

    timer_sizes = []
    async with open_supervisor(SupervisorSpec("root", [ChildSpec("e", echo)])) as sup:
        timer = sup._registry.timer  # the tree's timer, to check its size
        for _ in range(5_000):
            assert await sup.ask("e", Hold, timeout=1_000.0) == 1
            timer_sizes.append(len(timer))
    assert max(timer_sizes) <= 64

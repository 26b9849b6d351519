"""Benchmark of the actor runtime, next to plain trio memory channels in the same run.

`run_actors_bench()` measures, on the real clock:
- messages/s through a chain of 4 actors (one message per item) and through plain trio tasks
  and channels wired the same way; the ratio is `runtime_overhead_pct`;
- items/s through the same chain when each message carries a batch of items;
- ask round trips (p50/p99 µs), against a hand-written 1-slot-channel request/reply;
- crash-to-replacement latency: from the raise to the new incarnation running (p50/p99 µs).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from functools import partial

import trio

from actors import (
    ActorContext,
    Backoff,
    ChildSpec,
    ReplyTo,
    SupervisorSpec,
    open_supervisor,
)

__all__ = ["format_actors_bench", "run_actors_bench"]

STAGES = 4
MAILBOX = 64
BATCH = 100
RESTARTS = 1_000


@dataclass(frozen=True, slots=True)
class _Item:
    value: int


@dataclass(frozen=True, slots=True)
class _Batch:
    items: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Echo:
    value: int
    reply_to: ReplyTo[int]


@dataclass(frozen=True, slots=True)
class _Crash:
    pass


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _stage(name: str, nxt: str) -> ChildSpec[object]:
    async def forward(ctx: ActorContext[object]) -> None:
        ctx.started()
        async for msg in ctx.inbox:
            await ctx.send(nxt, msg)

    return ChildSpec(name, forward, mailbox_size=MAILBOX)


async def _runtime_chain(messages: int, batch: int) -> float:
    """Items/s through STAGES actors; `batch` items per message (1: plain messages)."""
    done = trio.Event()
    count = 0

    async def sink(ctx: ActorContext[object]) -> None:
        ctx.started()
        nonlocal count
        async for msg in ctx.inbox:
            count += len(msg.items) if isinstance(msg, _Batch) else 1
            if count >= messages:
                done.set()

    stages = [_stage(f"stage{i}", f"stage{i + 1}") for i in range(STAGES - 1)]
    spec = SupervisorSpec(
        "bench", [*stages, ChildSpec(f"stage{STAGES - 1}", sink, mailbox_size=MAILBOX)]
    )
    async with open_supervisor(spec) as sup:
        first = sup.mailbox("stage0")
        t0 = time.perf_counter()
        if batch == 1:
            for i in range(messages):
                await first.send(_Item(i))
        else:
            for start in range(0, messages, batch):
                await first.send(_Batch(tuple(range(start, min(messages, start + batch)))))
        await done.wait()
        return messages / (time.perf_counter() - t0)


async def _plain_chain(messages: int) -> float:
    """Messages/s through STAGES plain trio tasks joined by memory channels."""
    done = trio.Event()
    ends = [trio.open_memory_channel[_Item](MAILBOX) for _ in range(STAGES)]

    async def stage(
        receive: trio.MemoryReceiveChannel[_Item], send: trio.MemorySendChannel[_Item]
    ) -> None:
        async for msg in receive:
            await send.send(msg)

    async def sink(receive: trio.MemoryReceiveChannel[_Item]) -> None:
        count = 0
        async for _ in receive:
            count += 1
            if count >= messages:
                done.set()

    async with trio.open_nursery() as nursery:
        for i in range(STAGES - 1):
            nursery.start_soon(stage, ends[i][1], ends[i + 1][0])
        nursery.start_soon(sink, ends[-1][1])
        t0 = time.perf_counter()
        for i in range(messages):
            await ends[0][0].send(_Item(i))
        await done.wait()
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return messages / elapsed


async def _runtime_asks(asks: int) -> list[float]:
    async def echo(ctx: ActorContext[_Echo]) -> None:
        ctx.started()
        async for msg in ctx.inbox:
            msg.reply_to.reply(msg.value)

    samples = []
    async with open_supervisor(SupervisorSpec("bench", [ChildSpec("echo", echo)])) as sup:
        for i in range(asks):
            t0 = time.perf_counter_ns()
            await sup.ask("echo", partial(_Echo, i))
            samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


async def _plain_asks(asks: int) -> list[float]:
    requests_in, requests = trio.open_memory_channel[tuple[int, trio.MemorySendChannel[int]]](
        MAILBOX
    )

    async def echo() -> None:
        async for value, reply in requests:
            reply.send_nowait(value)

    samples = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo)
        for i in range(asks):
            t0 = time.perf_counter_ns()
            reply_in, reply = trio.open_memory_channel[int](1)
            await requests_in.send((i, reply_in))
            await reply.receive()
            samples.append((time.perf_counter_ns() - t0) / 1000)
        nursery.cancel_scope.cancel()
    return samples


async def _restarts(n: int) -> list[float]:
    """Microseconds from an actor's raise to its replacement running, `n` times."""
    samples: list[float] = []
    raised_at = 0.0
    running = trio.Event()

    async def fragile(ctx: ActorContext[_Crash]) -> None:
        ctx.started()
        if raised_at:
            samples.append((time.perf_counter() - raised_at) * 1e6)
        running.set()
        async for _ in ctx.inbox:
            nonlocal_raise()

    def nonlocal_raise() -> None:
        nonlocal raised_at
        raised_at = time.perf_counter()
        raise RuntimeError("crash on purpose")

    spec = SupervisorSpec(
        "bench", [ChildSpec("fragile", fragile)], max_restarts=10 * n, backoff=Backoff(0, 0, 0)
    )
    async with open_supervisor(spec) as sup:
        for _ in range(n):
            await running.wait()
            running = trio.Event()
            await sup.send("fragile", _Crash())
        await running.wait()
    return samples


async def _bench(messages: int, asks: int, rounds: int) -> dict[str, float]:
    # Rounds alternate runtime and plain so that machine noise hits both alike; medians of rounds.
    per_round: dict[str, list[float]] = {
        "plain": [],
        "chain": [],
        "batched": [],
        "ask": [],
        "plain_ask": [],
    }
    ask_samples: list[float] = []
    plain_ask_samples: list[float] = []
    for _ in range(rounds):
        per_round["plain"].append(await _plain_chain(messages // rounds))
        per_round["chain"].append(await _runtime_chain(messages // rounds, 1))
        per_round["batched"].append(await _runtime_chain(messages // rounds, BATCH))
        plain_asks = await _plain_asks(asks // rounds)
        runtime_asks = await _runtime_asks(asks // rounds)
        per_round["plain_ask"].append(statistics.median(plain_asks))
        per_round["ask"].append(statistics.median(runtime_asks))
        plain_ask_samples += plain_asks
        ask_samples += runtime_asks
    restarts = await _restarts(RESTARTS)
    med = {k: statistics.median(v) for k, v in per_round.items()}
    return {
        "messages": float(messages),
        "asks": float(asks),
        "chain_msgs_per_s": med["chain"],
        "plain_chain_msgs_per_s": med["plain"],
        "runtime_overhead_pct": (med["plain"] / med["chain"] - 1.0) * 100.0,
        "batch_items_per_s": med["batched"],
        "batch_speedup": med["batched"] / med["chain"],
        "ask_p50_us": med["ask"],
        "ask_p99_us": _percentile(ask_samples, 0.99),
        "plain_ask_p50_us": med["plain_ask"],
        "plain_ask_p99_us": _percentile(plain_ask_samples, 0.99),
        "ask_overhead_pct": (med["ask"] / med["plain_ask"] - 1.0) * 100.0,
        "restart_p50_us": statistics.median(restarts),
        "restart_p99_us": _percentile(restarts, 0.99),
    }


def run_actors_bench(*, messages: int = 100_000, asks: int = 20_000) -> dict[str, float]:
    """Run the actor benchmark on the real clock and return its figures (see module doc)."""
    rounds = 5
    if messages < rounds or asks < rounds:
        raise ValueError(f"messages and asks must be >= {rounds}")
    return trio.run(_bench, messages, asks, rounds)


def format_actors_bench(result: dict[str, float]) -> str:
    """The benchmark's figures as a short human-readable table."""
    r = result
    rows = [
        (f"chain of {STAGES} actors", f"{r['chain_msgs_per_s']:,.0f} msgs/s"),
        (f"chain of {STAGES} plain trio tasks", f"{r['plain_chain_msgs_per_s']:,.0f} msgs/s"),
        ("runtime overhead", f"{r['runtime_overhead_pct']:+.1f} %"),
        (
            f"chain, batches of {BATCH}",
            f"{r['batch_items_per_s']:,.0f} items/s ({r['batch_speedup']:.1f}x plain sends)",
        ),
        ("ask p50 / p99", f"{r['ask_p50_us']:.1f} / {r['ask_p99_us']:.1f} us"),
        (
            "plain channel ask p50 / p99",
            f"{r['plain_ask_p50_us']:.1f} / {r['plain_ask_p99_us']:.1f} us",
        ),
        ("ask overhead", f"{r['ask_overhead_pct']:+.1f} %"),
        (
            "crash to replacement p50 / p99",
            f"{r['restart_p50_us']:.1f} / {r['restart_p99_us']:.1f} us",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    head = f"actors benchmark ({r['messages']:,.0f} messages, {r['asks']:,.0f} asks)"
    return "\n".join([head, *(f"  {name:<{width}}  {value}" for name, value in rows)])

"""Test actors and messages shared by the actor runtime tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors import ActorContext, ReplyTo


@dataclass(frozen=True, slots=True)
class Crash:
    """Makes a `Worker` raise."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Makes a `Worker` return normally."""


@dataclass(frozen=True, slots=True)
class Note:
    """Recorded by a `Worker`."""

    value: int


@dataclass(frozen=True, slots=True)
class Ping:
    """Answered by a `Worker` with (name, incarnation)."""

    reply_to: ReplyTo[tuple[str, int]]


@dataclass
class Worker:
    """A test actor: counts incarnations, records notes, crashes or stops on command."""

    name: str
    starts: int = 0
    seen: list[int] = field(default_factory=list)

    async def run(self, ctx: ActorContext[object]) -> None:
        ctx.started()
        self.starts += 1
        async for msg in ctx.inbox:
            match msg:
                case Crash():
                    raise ValueError(f"{self.name} crashed")
                case Stop():
                    return
                case Note(value):
                    self.seen.append(value)
                case Ping(reply_to):
                    reply_to.reply((self.name, self.starts))

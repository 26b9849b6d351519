"""Mailboxes: bounded trio memory channels owned by the supervision tree, not by the actor.

A mailbox is created once per child name when the tree starts and closed when the tree stops (or
when a temporary child ends). Each incarnation of the actor reads it through its own `Inbox`, a
clone of the receive end: a restart keeps every queued message.
"""

from __future__ import annotations

from typing import Generic, TypeVar, final

import trio

from actors.ask import fail_pending

__all__ = ["Inbox", "Mailbox"]

M = TypeVar("M")


@final
class Inbox(trio.abc.ReceiveChannel[M]):
    """One incarnation's view of its mailbox: `async for msg in ctx.inbox`.

    Iteration ends (and `receive()` raises `trio.EndOfChannel`) when the supervisor stops the
    actor or the mailbox closes. `current` is the message being handled: the last one received.
    """

    __slots__ = ("_channel", "current")

    def __init__(self, channel: trio.MemoryReceiveChannel[M]) -> None:
        self._channel = channel
        self.current: M | None = None

    async def receive(self) -> M:
        """Wait for the next message."""
        try:
            msg = await self._channel.receive()
        except trio.ClosedResourceError:
            raise trio.EndOfChannel from None
        self.current = msg
        return msg

    def receive_nowait(self) -> M:
        """Take the next message or raise `trio.WouldBlock`."""
        try:
            msg = self._channel.receive_nowait()
        except trio.ClosedResourceError:
            raise trio.EndOfChannel from None
        self.current = msg
        return msg

    async def __anext__(self) -> M:
        # Same as receive(), inlined: this is the hot path of every actor.
        try:
            msg = await self._channel.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None
        self.current = msg
        return msg

    def statistics(self) -> trio.MemoryChannelStatistics:
        """Buffer use of the mailbox (`current_buffer_used`, `tasks_waiting_send`, ...)."""
        return self._channel.statistics()

    def close(self) -> None:
        """Stop this incarnation's reading; queued messages stay in the mailbox."""
        self._channel.close()

    async def aclose(self) -> None:
        """Same as close(), plus a checkpoint."""
        self.close()
        await trio.lowlevel.checkpoint()


@final
class Mailbox(Generic[M]):
    """A named bounded mailbox that outlives the actor instances reading it."""

    __slots__ = ("_closed", "_receive", "name", "send_channel", "size")

    def __init__(self, name: str, size: int | float) -> None:
        self.name = name
        self.size = size
        send, self._receive = trio.open_memory_channel[M](size)
        self.send_channel: trio.MemorySendChannel[M] = send
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self._closed

    def open_inbox(self) -> Inbox[M]:
        """A fresh inbox for a new incarnation of the actor."""
        return Inbox(self._receive.clone())

    def statistics(self) -> trio.MemoryChannelStatistics:
        """Buffer use of the mailbox."""
        return self._receive.statistics()

    def close(self) -> None:
        """Close for good: senders get errors, queued asks fail with ActorDeadError."""
        self._closed = True
        self.send_channel.close()
        while True:
            try:
                msg = self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            fail_pending(msg, self.name)
        self._receive.close()

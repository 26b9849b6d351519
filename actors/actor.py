"""The actor context and the tree-wide registry of named mailboxes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar, final

import trio

from actors.ask import DEFAULT_ASK_TIMEOUT, AskTimer, ReplyTo, ask_via
from actors.errors import ActorDeadError, NoSuchActorError
from actors.mailbox import Inbox, Mailbox

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["ActorContext", "Registry"]

M = TypeVar("M")
R = TypeVar("R")


@final
class Registry:
    """Named mailboxes of one supervision tree (not a global: one per root supervisor)."""

    __slots__ = ("_mailboxes", "channels", "timer")

    def __init__(self) -> None:
        self.timer = AskTimer()
        self._mailboxes: dict[str, Mailbox[object]] = {}
        self.channels: dict[str, trio.MemorySendChannel[object]] = {}

    def add(self, name: str, size: int | float) -> Mailbox[object]:
        """Create the mailbox `name`; names are unique in a tree."""
        if name in self._mailboxes:
            raise ValueError(f"duplicate actor name {name!r}")
        mailbox = Mailbox[object](name, size)
        self._mailboxes[name] = mailbox
        self.channels[name] = mailbox.send_channel
        return mailbox

    def get(self, name: str) -> Mailbox[object]:
        """The mailbox `name`, or NoSuchActorError."""
        try:
            return self._mailboxes[name]
        except KeyError:
            raise NoSuchActorError(name) from None

    def channel(self, name: str) -> trio.MemorySendChannel[object]:
        """The send end of mailbox `name` (shared: do not close it)."""
        return self.get(name).send_channel

    async def send(self, name: str, msg: object) -> None:
        """Send `msg` to `name`, waiting while its mailbox is full."""
        try:
            await self.channel(name).send(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ActorDeadError(name) from None

    def send_nowait(self, name: str, msg: object) -> None:
        """Send without waiting; raises `trio.WouldBlock` when the mailbox is full."""
        try:
            self.channel(name).send_nowait(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ActorDeadError(name) from None

    def close_all(self) -> None:
        """Close every mailbox, failing the asks still queued."""
        for mailbox in self._mailboxes.values():
            mailbox.close()


@final
class ActorContext(Generic[M]):
    """What an actor gets from the runtime: its name, inbox, and ways to reach its peers.

    Attributes:
        name: the child's name (also its mailbox's name).
        inbox: this incarnation's `Inbox[M]`; `async for msg in ctx.inbox`.
        stopping: set when the supervisor asks the actor to stop (the inbox also ends then).
        shutdown_timeout: seconds the actor gets to finish once `stopping` is set.
    """

    __slots__ = (
        "_channels",
        "_declare",
        "_registry",
        "inbox",
        "name",
        "shutdown_timeout",
        "stopping",
    )

    def __init__(
        self,
        name: str,
        inbox: Inbox[M],
        registry: Registry,
        shutdown_timeout: float,
        declare: Callable[[], None],
    ) -> None:
        self.name = name
        self.inbox = inbox
        self.stopping = trio.Event()
        self.shutdown_timeout = shutdown_timeout
        self._registry = registry
        self._channels = registry.channels
        self._declare = declare

    def started(self) -> None:
        """Declare this incarnation ready, like `task_status.started()`; later calls do nothing.

        The supervisor's start of this actor returns only then (or when the actor exits, or
        when its `start_timeout` passes, which counts as a crash). `ActorStarted` is reported
        now, not when the actor was spawned.
        """
        self._declare()

    async def background(
        self,
        fn: Callable[..., Awaitable[object]],
        *args: object,
        declare_started: bool = False,
    ) -> None:
        """Run `fn(*args)` until it returns or the actor is asked to stop; then cancel it.

        The idiom of an actor that serves something other than its inbox (a loop, a server).
        With `declare_started`, `fn` is started as `nursery.start(fn, *args)` and the actor
        declares itself started (`started()`) once `fn` calls `task_status.started()`.
        `fn`'s exception is the actor's crash.
        """
        async with trio.open_nursery() as nursery:
            scope = nursery.cancel_scope

            async def body(
                *, task_status: trio.TaskStatus[object] = trio.TASK_STATUS_IGNORED
            ) -> None:
                if declare_started:
                    await fn(*args, task_status=task_status)
                else:
                    await fn(*args)
                scope.cancel()  # `fn` returned: so does the actor

            async def cancel_on_stop() -> None:
                await self.stopping.wait()  # a graceful stop ends `fn` at once
                scope.cancel()

            nursery.start_soon(cancel_on_stop)
            if declare_started:
                await nursery.start(body)
                self.started()
            else:
                nursery.start_soon(body)

    async def send(self, peer: str, msg: object) -> None:
        """Send `msg` to the actor named `peer`; waits while its mailbox is full (backpressure).

        Raises:
            NoSuchActorError: no such peer.
            ActorDeadError: the peer's mailbox is closed.
        """
        try:
            await self._channels[peer].send(msg)
        except KeyError:
            raise NoSuchActorError(peer) from None
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ActorDeadError(peer) from None

    def send_nowait(self, peer: str, msg: object) -> None:
        """Send without waiting; raises `trio.WouldBlock` when the peer's mailbox is full."""
        self._registry.send_nowait(peer, msg)

    async def ask(
        self,
        peer: str,
        make_msg: Callable[[ReplyTo[R]], object],
        timeout: float = DEFAULT_ASK_TIMEOUT,  # noqa: ASYNC109 - the reply deadline is the API
    ) -> R:
        """Send `make_msg(reply_to)` to `peer` and return its reply.

        Raises:
            AskTimeoutError: no reply within `timeout` seconds.
            ActorDeadError: the peer is gone, or crashed while handling this request.
            Exception: whatever the peer passed to `reply_to.fail(...)`.
        """
        channel = self._channels.get(peer)
        if channel is None:
            raise NoSuchActorError(peer)
        return await ask_via(channel, peer, make_msg, timeout, self._registry.timer)

    def peer(self, peer: str) -> trio.MemorySendChannel[object]:
        """The send end of `peer`'s mailbox, for hot loops (shared: do not close it)."""
        return self._registry.channel(peer)


def new_context(
    mailbox: Mailbox[object],
    registry: Registry,
    shutdown_timeout: float,
    declare: Callable[[], None],
) -> ActorContext[object]:
    """A context with a fresh inbox for a new incarnation of the actor behind `mailbox`.

    `declare` is what `ctx.started()` calls: the supervisor's readiness hook.
    """
    inbox = mailbox.open_inbox()
    return ActorContext(mailbox.name, inbox, registry, shutdown_timeout, declare)

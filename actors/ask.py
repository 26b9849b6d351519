"""Request/reply: a one-shot reply channel awaited under a timeout."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, final

import trio

from actors.errors import ActorDeadError, AskTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_ASK_TIMEOUT", "AskTimer", "ReplyTo", "ask_via", "fail_pending"]

R = TypeVar("R")

DEFAULT_ASK_TIMEOUT = 5.0  # seconds, as gen_server:call's default


@final
class ReplyTo(Generic[R]):
    """The reply address of one ask. Put it in the request as the field `reply_to`."""

    __slots__ = ("_channel", "_done")

    def __init__(
        self, channel: trio.MemorySendChannel[tuple[R | None, BaseException | None]]
    ) -> None:
        self._channel = channel
        self._done = False

    @property
    def done(self) -> bool:
        """True once a reply or a failure was sent."""
        return self._done

    def reply(self, value: R) -> None:
        """Answer the ask with `value`. Later replies are ignored."""
        self._put((value, None))

    def fail(self, exc: BaseException) -> None:
        """Answer the ask with an exception; the asker raises it."""
        self._put((None, exc))

    def _put(self, outcome: tuple[R | None, BaseException | None]) -> None:
        if self._done:
            return
        self._done = True
        # A late reply is harmless: the asker may have closed its end, or it left the reply in
        # the 1-slot buffer, which is garbage once both ends are dropped.
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._channel.send_nowait(outcome)


@final
class AskTimer:
    """Times out asks for a whole tree with one task, instead of a cancel scope per ask.

    A trio cancel scope costs about as much as the rest of a round trip, so an ask whose request
    fits in the mailbox registers its deadline here; the timer fails it with AskTimeoutError when
    the deadline passes. Entries of answered asks are dropped lazily as their deadline comes.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, ReplyTo[Any], str, float]] = []
        self._counter = itertools.count()
        self._next = math.inf
        self._wakeup = trio.Event()
        self.running = False

    def add(self, reply_to: ReplyTo[Any], peer: str, timeout: float) -> None:
        """Fail `reply_to` with AskTimeoutError unless answered within `timeout` seconds."""
        deadline = trio.current_time() + timeout
        heapq.heappush(self._heap, (deadline, next(self._counter), reply_to, peer, timeout))
        if deadline < self._next:
            self._wakeup.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Expire deadlines until cancelled; then fail the asks still waiting (ActorDeadError)."""
        self.running = True
        task_status.started()
        try:
            while True:
                now = trio.current_time()
                while self._heap and self._heap[0][0] <= now:
                    _, _, reply_to, peer, timeout = heapq.heappop(self._heap)
                    reply_to.fail(AskTimeoutError(f"{peer!r} did not reply within {timeout} s"))
                self._next = self._heap[0][0] if self._heap else math.inf
                self._wakeup = trio.Event()
                with trio.move_on_at(self._next):
                    await self._wakeup.wait()
        finally:
            self.running = False
            for _, _, reply_to, peer, _ in self._heap:
                reply_to.fail(ActorDeadError(f"{peer!r} stopped before it replied"))
            self._heap.clear()


async def ask_via(
    channel: trio.MemorySendChannel[object],
    peer: str,
    make_msg: Callable[[ReplyTo[R]], object],
    timeout: float = DEFAULT_ASK_TIMEOUT,  # noqa: ASYNC109 - the reply deadline is the API
    timer: AskTimer | None = None,
) -> R:
    """Send `make_msg(reply_to)` on `channel` and wait at most `timeout` seconds for the reply.

    Raises:
        AskTimeoutError: no reply in time (the request may still be handled later).
        ActorDeadError: the peer's mailbox is closed, or the peer died while handling it.
        Exception: whatever the callee passed to `reply_to.fail(...)`.
    """
    send, receive = trio.open_memory_channel[tuple[R | None, BaseException | None]](1)
    reply_to: ReplyTo[R] = ReplyTo(send)
    msg = make_msg(reply_to)
    try:
        if timer is not None and timer.running and _try_send(channel, msg):
            timer.add(reply_to, peer, timeout)  # fast path: no cancel scope
            value, exc = await receive.receive()
        else:
            with trio.fail_after(timeout):
                await channel.send(msg)
                value, exc = await receive.receive()
    except trio.TooSlowError:
        receive.close()  # a reply still on its way finds the channel closed
        raise AskTimeoutError(f"{peer!r} did not reply within {timeout} s") from None
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        raise ActorDeadError(peer) from None
    if exc is not None:
        raise exc
    return cast("R", value)


def _try_send(channel: trio.MemorySendChannel[object], msg: object) -> bool:
    try:
        channel.send_nowait(msg)
    except trio.WouldBlock:
        return False
    return True


def fail_pending(msg: object, name: str) -> None:
    """Fail the ask carried by `msg` (if any, and unanswered) with ActorDeadError."""
    reply_to = getattr(msg, "reply_to", None)
    if isinstance(reply_to, ReplyTo) and not reply_to.done:
        reply_to.fail(ActorDeadError(f"{name!r} died before it replied"))

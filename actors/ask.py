"""Request/reply: a one-shot reply channel awaited under a timeout."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Generic, TypeVar, cast, final

import trio

from actors.errors import ActorDeadError, AskTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_ASK_TIMEOUT", "ReplyTo", "ask_via", "fail_pending"]

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
        # The asker may have timed out and closed its end: a late reply is harmless.
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._channel.send_nowait(outcome)
        self._channel.close()


async def ask_via(
    channel: trio.MemorySendChannel[object],
    peer: str,
    make_msg: Callable[[ReplyTo[R]], object],
    timeout: float = DEFAULT_ASK_TIMEOUT,  # noqa: ASYNC109 - the reply deadline is the API
) -> R:
    """Send `make_msg(reply_to)` on `channel` and wait at most `timeout` seconds for the reply.

    Raises:
        AskTimeoutError: no reply in time (the request may still be handled later).
        ActorDeadError: the peer's mailbox is closed, or the peer died while handling it.
        Exception: whatever the callee passed to `reply_to.fail(...)`.
    """
    send, receive = trio.open_memory_channel[tuple[R | None, BaseException | None]](1)
    msg = make_msg(ReplyTo(send))
    with receive:
        try:
            with trio.fail_after(timeout):
                await channel.send(msg)
                value, exc = await receive.receive()
        except trio.TooSlowError:
            raise AskTimeoutError(f"{peer!r} did not reply within {timeout} s") from None
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ActorDeadError(peer) from None
    if exc is not None:
        raise exc
    return cast("R", value)


def fail_pending(msg: object, name: str) -> None:
    """Fail the ask carried by `msg` (if any, and unanswered) with ActorDeadError."""
    reply_to = getattr(msg, "reply_to", None)
    if isinstance(reply_to, ReplyTo) and not reply_to.done:
        reply_to.fail(ActorDeadError(f"{name!r} died before it replied"))

"""Request/reply: the one-shot reply slot `ReplyTo`, awaited under a tree-wide timer."""

from __future__ import annotations

import heapq
import itertools
import math
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

import outcome
import trio

from actors.errors import ActorDeadError, AskTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_ASK_TIMEOUT", "AskTimer", "ReplyTo", "ask_via", "fail_pending"]

R = TypeVar("R")

DEFAULT_ASK_TIMEOUT = 5.0  # seconds, as gen_server:call's default
_COMPACT_MIN = (
    64  # the timer's heap is compacted once it holds more entries than this (and 2x live)
)

_reschedule = trio.lowlevel.reschedule
_SUCCEEDED = trio.lowlevel.Abort.SUCCEEDED


@final
class ReplyTo(Generic[R]):
    """A one-shot reply slot: the reply address of one request, awaited by one task.

    Put it in a request message as the field `reply_to`. The callee answers with `reply(value)`
    or `fail(exc)`; the waiting task (`await reply_to.wait()`) is woken directly with the value
    or the exception, with no channel. A reply that comes before the waiter waits is kept.
    A second reply, and a reply after the waiter left (cancelled or timed out), is dropped.
    Used on the Trio thread only; `ask`, finagent's writer queue and its Redis transport share it.
    """

    __slots__ = ("_done", "_outcome", "_task")

    def __init__(self) -> None:
        self._done = False
        self._task: trio.lowlevel.Task | None = None
        self._outcome: outcome.Outcome[R] | None = None

    @property
    def done(self) -> bool:
        """True once a reply or a failure was sent."""
        return self._done

    def reply(self, value: R) -> None:
        """Answer with `value`. Later replies are ignored."""
        self._put(outcome.Value(value))

    def fail(self, exc: BaseException) -> None:
        """Answer with an exception; the waiter raises it."""
        self._put(outcome.Error(exc))

    def _put(self, result: outcome.Outcome[R]) -> None:
        if self._done:
            return
        self._done = True
        if self._task is not None:  # the waiter is parked: wake it with the result
            task, self._task = self._task, None
            _reschedule(task, result)
        else:  # answered before the waiter waits
            self._outcome = result

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        self._task = None  # the waiter left (cancelled or timed out): a late reply is dropped
        return _SUCCEEDED

    async def wait(self) -> R:
        """Wait for the reply; raise what the callee failed with. Call once."""
        if self._outcome is not None:  # answered before we waited
            await trio.lowlevel.checkpoint()
            result, self._outcome = self._outcome, None
            return result.unwrap()
        self._task = trio.lowlevel.current_task()
        value: R = await trio.lowlevel.wait_task_rescheduled(self._abort)
        return value


@final
class AskTimer:
    """Times out asks for a whole tree with one task, instead of a cancel scope per ask.

    A trio cancel scope costs about as much as the rest of a round trip, so an ask whose request
    fits in the mailbox registers its deadline here; the timer fails it with AskTimeoutError when
    the deadline passes. Answered asks are dropped lazily: when the heap grows past twice its
    live size (and `_COMPACT_MIN`), it is rebuilt without them, so it stays O(asks pending).
    """

    __slots__ = ("_counter", "_heap", "_limit", "_next", "_wakeup", "running")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, ReplyTo[Any], str, float]] = []
        self._counter = itertools.count()
        self._limit = _COMPACT_MIN
        self._next = math.inf
        self._wakeup = trio.Event()
        self.running = False

    def __len__(self) -> int:
        """Entries in the heap, answered ones not yet dropped included."""
        return len(self._heap)

    def add(self, reply_to: ReplyTo[Any], peer: str, timeout: float) -> None:
        """Fail `reply_to` with AskTimeoutError unless answered within `timeout` seconds."""
        heap = self._heap
        if len(heap) >= self._limit:
            self._compact()
        deadline = trio.current_time() + timeout
        heapq.heappush(heap, (deadline, next(self._counter), reply_to, peer, timeout))
        if deadline < self._next:
            self._wakeup.set()

    def _compact(self) -> None:
        # In place: the heap list is shared with run(). Amortised O(1) per add.
        self._heap[:] = [entry for entry in self._heap if not entry[2].done]
        heapq.heapify(self._heap)
        self._limit = max(_COMPACT_MIN, 2 * len(self._heap))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Expire deadlines until cancelled; then fail the asks still waiting (ActorDeadError)."""
        self.running = True
        task_status.started()
        heap = self._heap
        try:
            while True:
                now = trio.current_time()
                while heap and heap[0][0] <= now:
                    _, _, reply_to, peer, timeout = heapq.heappop(heap)
                    reply_to.fail(AskTimeoutError(f"{peer!r} did not reply within {timeout} s"))
                self._next = heap[0][0] if heap else math.inf
                self._wakeup = trio.Event()
                with trio.move_on_at(self._next):
                    await self._wakeup.wait()
        finally:
            self.running = False
            for _, _, reply_to, peer, _ in heap:
                reply_to.fail(ActorDeadError(f"{peer!r} stopped before it replied"))
            heap.clear()


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
    reply_to: ReplyTo[R] = ReplyTo()
    msg = make_msg(reply_to)
    if timer is not None and timer.running:
        try:
            channel.send_nowait(msg)
        except trio.WouldBlock:
            pass
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ActorDeadError(peer) from None
        else:  # fast path: the tree's timer enforces the deadline, no cancel scope
            timer.add(reply_to, peer, timeout)
            return await reply_to.wait()
    with trio.move_on_after(timeout):
        try:
            await channel.send(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise ActorDeadError(peer) from None
        return await reply_to.wait()
    raise AskTimeoutError(f"{peer!r} did not reply within {timeout} s")


def fail_pending(msg: object, name: str) -> None:
    """Fail the ask carried by `msg` (if any, and unanswered) with ActorDeadError."""
    reply_to = getattr(msg, "reply_to", None)
    if isinstance(reply_to, ReplyTo) and not reply_to.done:
        reply_to.fail(ActorDeadError(f"{name!r} died before it replied"))

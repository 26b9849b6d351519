"""Supervisors: start children in order, restart them by strategy, stop them in reverse order.

Modelled on Erlang/OTP's `supervisor` on top of Trio's structured concurrency: every child is a
task in the supervisor's nursery, a crash is an `Exception` returned to the supervisor's loop, and
giving up is an exception raised out of the supervisor (escalation to the parent).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, final

import trio

from actors.actor import Registry, new_context
from actors.ask import DEFAULT_ASK_TIMEOUT, ReplyTo, ask_via, fail_pending
from actors.errors import NoSuchActorError, StartTimeoutError, SupervisorGaveUpError
from actors.events import (
    ActorExited,
    ActorRestarted,
    ActorStarted,
    ExitReason,
    LifecycleEvent,
    NullObserver,
    Observer,
    SupervisorEscalated,
    SupervisorGaveUp,
)
from actors.spec import ChildSpec, Restart, Strategy, SupervisorSpec

if TYPE_CHECKING:
    from actors.mailbox import Mailbox

__all__ = ["Supervisor", "open_supervisor", "run_supervisor"]

R = TypeVar("R")
Rng = Callable[[], float]

_KEY = object()  # only this module's factories hold it: see `Supervisor.__init__`


class _Child:
    """Book-keeping for one child spec across its incarnations."""

    __slots__ = (
        "done",
        "graceful",
        "incarnation",
        "mailbox",
        "ready",
        "running",
        "scope",
        "spec",
        "stopping",
    )

    def __init__(
        self, spec: ChildSpec[Any] | SupervisorSpec, mailbox: Mailbox[object] | None
    ) -> None:
        self.spec = spec
        self.mailbox = mailbox
        self.incarnation = 0
        self.running = False
        self.ready = False  # this incarnation declared started (reset by every restart)
        self.stopping = False
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.graceful: Callable[[], None] = self.scope.cancel


@final
class _Declared:
    """A `trio.TaskStatus` that calls `on_started`: a nested supervisor's readiness."""

    __slots__ = ("_on_started",)

    def __init__(self, on_started: Callable[[object], None]) -> None:
        self._on_started = on_started

    def started(self, value: object = None) -> None:
        self._on_started(value)


@dataclass(frozen=True, slots=True)
class _Exit:
    child: _Child
    incarnation: int
    exc: Exception | None


@final
class _Start:
    """An incarnation's `task_status`, reported at most once (declared, or exited first)."""

    __slots__ = ("_status", "reported")

    def __init__(self, status: trio.TaskStatus[Any]) -> None:
        self._status = status
        self.reported = False

    def started(self, value: object = None) -> None:
        if not self.reported:
            self.reported = True
            self._status.started(value)


def _wants_restart(restart: Restart, exc: Exception | None) -> bool:
    return restart is Restart.PERMANENT or (restart is Restart.TRANSIENT and exc is not None)


@final
class Supervisor:
    """A running supervisor; the handle `run_supervisor` hands back once all children started.

    Made only by `open_supervisor` / `run_supervisor` (and by a parent for a nested one).
    """

    def __init__(
        self,
        spec: SupervisorSpec,
        registry: Registry,
        observer: Observer,
        rng: Rng,
        nested: bool,
        *,
        key: object = None,
    ) -> None:
        # A supervisor built by hand would have no registry of mailboxes, no ask timer and no
        # parent nursery: refuse it rather than let it half work.
        if key is not _KEY:
            raise TypeError("a Supervisor is made by open_supervisor or run_supervisor")
        self.spec = spec
        self.name = spec.name
        self._registry = registry
        self._observer = observer
        self._rng = rng
        self._nested = nested
        self._children = [
            _Child(c, registry.get(c.name) if isinstance(c, ChildSpec) else None)
            for c in spec.children
        ]
        # Unbounded on purpose: the loop both consumes exits and creates the incarnations that
        # report them; a child's exit report must never block or fail. One entry per incarnation.
        self._exits_in, self._exits = trio.open_memory_channel[_Exit | None](math.inf)
        self._restarts: deque[tuple[float, str]] = deque()
        self._stop_requested = False
        self._backoff_scope = trio.CancelScope()
        self._finished = trio.Event()
        self._nursery: trio.Nursery | None = None

    # -- public handle ----------------------------------------------------------------------
    def mailbox(self, name: str) -> trio.MemorySendChannel[object]:
        """The send end of actor `name`'s mailbox anywhere in the tree (shared: do not close)."""
        return self._registry.channel(name)

    async def send(self, name: str, msg: object) -> None:
        """Send `msg` to actor `name`, waiting while its mailbox is full."""
        await self._registry.send(name, msg)

    def send_nowait(self, name: str, msg: object) -> None:
        """Send without waiting; raises `trio.WouldBlock` when the mailbox is full."""
        self._registry.send_nowait(name, msg)

    async def ask(
        self,
        name: str,
        make_msg: Callable[[ReplyTo[R]], object],
        timeout: float = DEFAULT_ASK_TIMEOUT,  # noqa: ASYNC109 - the reply deadline is the API
    ) -> R:
        """Ask actor `name` from outside the tree (see `ActorContext.ask`)."""
        registry = self._registry
        channel = registry.channels.get(name)
        if channel is None:
            raise NoSuchActorError(name)
        return await ask_via(channel, name, make_msg, timeout, registry.timer)

    def request_stop(self) -> None:
        """Start a graceful stop: children stop in reverse order, each within its timeout."""
        if not self._stop_requested:
            self._stop_requested = True
            self._backoff_scope.cancel()
            self._exits_in.send_nowait(None)

    async def stop(self) -> None:
        """Stop gracefully and wait until every child stopped."""
        self.request_stop()
        await self._finished.wait()

    # -- running ----------------------------------------------------------------------------
    async def run(
        self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the children in order, supervise them until stopped or given up."""
        failure: SupervisorGaveUpError | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for child in self._children:
                    await self._start(child, 0.0)
                self._emit(ActorStarted(self.name))
                task_status.started(self)
                failure = await self._loop()
                await self._stop_children(self._children)
        finally:
            self._finished.set()
        if failure is not None:
            if self._nested:
                self._emit(SupervisorEscalated(self.name, failure))
            raise failure

    async def _loop(self) -> SupervisorGaveUpError | None:
        while True:
            item = await self._exits.receive()
            if item is None:
                return None
            failure = await self._handle_exit(item)
            if failure is not None:
                return failure

    async def _handle_exit(self, item: _Exit) -> SupervisorGaveUpError | None:
        child = item.child
        if item.incarnation != child.incarnation or self._stop_requested:
            return None  # stale report of an incarnation already replaced, or shutting down
        if not _wants_restart(child.spec.restart, item.exc):
            if child.spec.restart is Restart.TEMPORARY and child.mailbox is not None:
                child.mailbox.close()
            return None
        now = trio.current_time()
        self._restarts.append((now, child.spec.name))
        while now - self._restarts[0][0] >= self.spec.max_seconds:
            self._restarts.popleft()
        if len(self._restarts) > self.spec.max_restarts:
            self._emit(SupervisorGaveUp(self.name, self.spec.max_restarts, self.spec.max_seconds))
            await self._stop_children(self._children)
            failure = SupervisorGaveUpError(
                f"{self.name!r}: more than {self.spec.max_restarts} restarts"
                f" in {self.spec.max_seconds} s"
            )
            failure.__cause__ = item.exc
            return failure
        attempt = sum(1 for _, name in self._restarts if name == child.spec.name)
        delay = self.spec.backoff.delay(attempt, self._rng())
        if self.spec.strategy is Strategy.ONE_FOR_ONE:
            self._emit(ActorRestarted(child.spec.name, attempt, delay))
            await self._start(child, delay)
            return None
        first = 0 if self.spec.strategy is Strategy.ONE_FOR_ALL else self._children.index(child)
        await self._restart_group(self._children[first:], attempt, delay)
        return None

    async def _restart_group(self, group: list[_Child], attempt: int, delay: float) -> None:
        await self._stop_children(group)
        restart = [c for c in group if c.spec.restart is not Restart.TEMPORARY]
        for c in group:
            if c.spec.restart is Restart.TEMPORARY and c.mailbox is not None:
                c.mailbox.close()
        for c in restart:
            self._emit(ActorRestarted(c.spec.name, attempt, delay))
        self._backoff_scope = trio.CancelScope()
        with self._backoff_scope:
            await trio.sleep(delay)
        if self._stop_requested:
            return
        for c in restart:
            await self._start(c, 0.0)

    async def _start(self, child: _Child, delay: float) -> None:
        assert self._nursery is not None
        await self._nursery.start(self._run_child, child, delay)

    async def _run_child(
        self, child: _Child, delay: float, *, task_status: trio.TaskStatus[Any]
    ) -> None:
        child.incarnation += 1
        incarnation = child.incarnation
        child.scope = scope = trio.CancelScope()
        child.done = done = trio.Event()
        child.graceful = scope.cancel
        child.running, child.stopping, child.ready = True, False, False
        start = _Start(task_status)
        exc: Exception | None = None
        reason = ExitReason.SHUTDOWN
        try:
            with scope:
                if delay > 0:
                    start.started()  # the back-off must not hold up the supervisor's loop
                    await trio.sleep(delay)
                try:
                    await self._invoke(child, start)
                    reason = ExitReason.NORMAL
                except Exception as e:
                    exc, reason = e, ExitReason.ERROR
        finally:
            child.running = child.ready = False
            done.set()
        if child.stopping:
            reason = ExitReason.SHUTDOWN
        self._emit(ActorExited(child.spec.name, reason, exc))
        if not child.stopping:
            self._exits_in.send_nowait(_Exit(child, incarnation, exc))
        start.started()  # exited before it declared: its start is over; the exit is handled

    async def _invoke(self, child: _Child, start: _Start) -> None:
        spec = child.spec
        if isinstance(spec, SupervisorSpec):
            nested = Supervisor(
                spec, self._registry, self._observer, self._rng, nested=True, key=_KEY
            )
            child.graceful = nested.request_stop

            def nested_started(value: object) -> None:
                child.ready = True
                start.started(value)

            await nested.run(task_status=_Declared(nested_started))
            return
        assert child.mailbox is not None
        # Until the actor declares started, this scope holds its start deadline.
        deadline = trio.CancelScope(deadline=trio.current_time() + spec.start_timeout)
        incarnation = child.incarnation

        def declare() -> None:
            if child.ready or child.incarnation != incarnation or not child.running:
                return  # already declared, or a stale context of an incarnation that ended
            deadline.deadline = math.inf
            child.ready = True
            self._emit(ActorStarted(spec.name))
            start.started()

        ctx = new_context(child.mailbox, self._registry, spec.shutdown_timeout, declare)

        def graceful() -> None:
            ctx.stopping.set()
            ctx.inbox.close()

        child.graceful = graceful
        try:
            with deadline:
                await spec.factory(ctx)
        finally:
            ctx.inbox.close()
            # The message being handled when the actor stopped is lost; fail its ask if any.
            fail_pending(ctx.inbox.current, spec.name)
        if deadline.cancelled_caught:
            raise StartTimeoutError(
                f"{spec.name!r} did not declare started within {spec.start_timeout} s"
            )

    async def _stop_children(self, group: list[_Child]) -> None:
        for child in reversed(group):
            if not child.running:
                continue
            child.stopping = True
            child.graceful()
            with trio.move_on_after(child.spec.shutdown_timeout):
                await child.done.wait()
            child.scope.cancel()
            await child.done.wait()

    def _emit(self, event: LifecycleEvent) -> None:
        self._observer.on_event(event)


def _register(spec: SupervisorSpec, registry: Registry, names: set[str]) -> None:
    if spec.name in names:
        raise ValueError(f"duplicate name {spec.name!r} in the supervision tree")
    names.add(spec.name)
    for child in spec.children:
        if isinstance(child, SupervisorSpec):
            _register(child, registry, names)
        elif child.name in names:
            raise ValueError(f"duplicate name {child.name!r} in the supervision tree")
        else:
            names.add(child.name)
            registry.add(child.name, child.mailbox_size)


async def run_supervisor(
    spec: SupervisorSpec,
    observer: Observer | None = None,
    rng: Rng | None = None,
    *,
    task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the supervision tree `spec`: `sup = await nursery.start(run_supervisor, spec)`.

    Creates one mailbox per actor in the tree (they outlive restarts), starts the children in
    order, hands back the `Supervisor` once they all started, and returns after a graceful stop.

    Args:
        spec: the root supervisor.
        observer: receives lifecycle events (default: ignore them).
        rng: source of back-off jitter in [0, 1) (default: `random.Random().random`).
        task_status: for `nursery.start`.

    Raises:
        SupervisorGaveUpError: restart intensity exceeded (after all children stopped).
    """
    registry = Registry()
    _register(spec, registry, set())
    supervisor = Supervisor(
        spec,
        registry,
        observer or NullObserver(),
        rng or random.Random().random,
        nested=False,
        key=_KEY,
    )
    failure: SupervisorGaveUpError | None = None
    async with trio.open_nursery() as nursery:
        await nursery.start(registry.timer.run)
        try:
            await supervisor.run(task_status=task_status)
        except SupervisorGaveUpError as exc:
            failure = exc
        finally:
            registry.close_all()
            nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure


@asynccontextmanager
async def open_supervisor(
    spec: SupervisorSpec, observer: Observer | None = None, rng: Rng | None = None
) -> AsyncIterator[Supervisor]:
    """Run the tree `spec` for the duration of the block, then stop it gracefully."""
    async with trio.open_nursery() as nursery:
        supervisor: Supervisor = await nursery.start(run_supervisor, spec, observer, rng)
        try:
            yield supervisor
        finally:
            supervisor.request_stop()

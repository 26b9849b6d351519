"""The dispatcher: the queue's event-loop processor.

``Dispatcher`` owns the lease of every job it hands out. It claims due jobs and sends each to
the mailbox of the service registered for its type, never more than that service has room for
(claim limit = capacity - in flight). Receives commit notes from the writer (wake-ups, settled
jobs) and lifecycle events (service crashes). Restart: permanent.

Wake, don't spin: an in-process commit that adds due work wakes it at once; the poll (``poll_s``
doubling up to ``poll_max_s``) is only a fallback for other writers, and it also wakes at the
earliest ``run_at`` of a delayed job. A service that crashes fails the job it was working on
(the oldest it holds: mailboxes are FIFO), counted as an attempt with back-off; a payload the
service's validator rejects goes straight to ``dead``.

An unreachable queue (``QueueUnavailableError``: Redis away) is not a crash: the round is
dropped and tried again after the poll interval, doubling up to ``poll_max_s``, until the queue
answers. Leases already handed out stay with their services (they settle once it is back).
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, final

import trio

from actors import ActorContext, ActorExited, ExitReason, LifecycleEvent
from finagent.domain.jobs import Job, QueueError, QueueUnavailableError

if TYPE_CHECKING:
    from finagent.ports.queue import DispatchQueue
    from finagent.services.persistence import CommitNote

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)

Validator = Callable[[Job], object]


@dataclass(eq=False)
class _Route:
    name: str
    types: tuple[str, ...]
    mailbox: trio.MemorySendChannel[Any]
    capacity: int
    validate: Validator | None
    owner: str
    in_flight: dict[int, Job] = field(default_factory=dict)

    @property
    def free(self) -> int:
        return max(0, self.capacity - len(self.in_flight))


@final
class Dispatcher:
    """Hands due jobs to services. Receives nothing by mailbox (notes and events are calls).

    Args:
        queue: the job queue (``PersistentJobQueue``).
        now: epoch seconds (virtual in simulation).
        node: lease-owner prefix, unique per process (e.g. ``host:pid``).
        poll_s: first fallback poll interval; doubles while idle up to ``poll_max_s``.
    """

    def __init__(
        self,
        queue: DispatchQueue,
        now: Callable[[], float],
        *,
        node: str = "local",
        poll_s: float = 0.25,
        poll_max_s: float = 2.0,
    ) -> None:
        self._queue = queue
        self._now = now
        self._node = node
        self._poll_s = poll_s
        self._poll_max_s = poll_max_s
        self._routes: dict[str, _Route] = {}
        self._by_type: dict[str, _Route] = {}
        self._crashes: list[tuple[str, str]] = []
        self._wake = trio.Event()
        self.dispatched = 0
        self.rejected = 0

    def register(
        self,
        name: str,
        types: Collection[str],
        mailbox: trio.MemorySendChannel[Any],
        *,
        capacity: int | None = None,
        validate: Validator | None = None,
    ) -> str:
        """Route jobs of ``types`` to the service ``name``; returns its lease owner string.

        Args:
            capacity: jobs in flight at most (default: the mailbox's buffer size, at least 1).
            validate: called with each job before delivery; raising marks it dead (non-retryable).
        """
        if name in self._routes or any(t in self._by_type for t in types):
            raise ValueError(f"service {name!r} or one of its job types is already routed")
        size = mailbox.statistics().max_buffer_size
        cap = capacity if capacity is not None else max(1, int(min(size, 1 << 20)))
        route = _Route(name, tuple(types), mailbox, cap, validate, f"{self._node}/{name}")
        self._routes[name] = route
        for job_type in route.types:
            self._by_type[job_type] = route
        return route.owner

    def in_flight(self, name: str) -> int:
        """Jobs handed to ``name`` and not yet settled."""
        return len(self._routes[name].in_flight)

    def on_commit(self, note: CommitNote) -> None:
        """Writer listener: forget settled jobs and wake up."""
        for job_id in note.settled:
            for route in self._routes.values():
                route.in_flight.pop(job_id, None)
        self._wake.set()

    def on_event(self, event: LifecycleEvent) -> None:
        """Observer hook: a routed service that crashed fails the job it was working on."""
        if (
            isinstance(event, ActorExited)
            and event.reason is ExitReason.ERROR
            and event.name in self._routes
        ):
            exc = event.exc
            text = "".join(traceback.format_exception(exc)) if exc else "service crashed"
            self._crashes.append((event.name, text.strip()))
            self._wake.set()

    async def run(self, ctx: ActorContext[object] | None = None) -> None:
        """Actor body: claim, deliver, sleep until woken, due, or the fallback poll."""
        poll = self._poll_s
        while True:
            self._wake = trio.Event()
            try:
                timeout = await self._round(poll)
            except QueueUnavailableError as exc:  # an outage, not a crash: the daemon logs it once
                log.debug("dispatch round skipped: %s", exc)
                poll = min(poll * 2, self._poll_max_s)
                await trio.sleep(poll)
                continue
            if timeout is None:
                poll = self._poll_s
                continue
            woke = False
            with trio.move_on_after(timeout):
                await self._wake.wait()
                woke = True
            poll = self._poll_s if woke else min(poll * 2, self._poll_max_s)

    async def _round(self, poll: float) -> float | None:
        """Fail crashed jobs and claim; None to go again at once, else how long to wait."""
        await self._fail_crashed()
        full = await self._claim_round()
        if full or self._wake.is_set():
            # More may be due, or a commit during the round brought news: claim again at
            # once (no next_due round trip: the wait below would not sleep anyway).
            return None
        timeout = poll
        types = [t for r in self._routes.values() if r.free for t in r.types]
        if types:
            due = await self._queue.next_due(types)
            if due is not None:
                timeout = min(timeout, max(0.0, due - self._now()))
        return timeout

    async def _fail_crashed(self) -> None:
        crashes, self._crashes = self._crashes, []
        for name, error in crashes:
            route = self._routes[name]
            if not route.in_flight:
                continue
            job_id = next(iter(route.in_flight))
            route.in_flight.pop(job_id)
            try:
                job = await self._queue.fail(job_id, route.owner, error)
            except QueueError:
                continue  # already settled or recovered
            log.warning("%s crashed on job %d; it is %s", name, job_id, job.status.value)

    async def _claim_round(self) -> bool:
        full = False
        for route in self._routes.values():
            limit = route.free
            if not limit:
                continue
            claimed = await self._queue.claim(route.types, limit, route.owner)
            full = full or len(claimed) == limit
            for job in claimed:
                await self._deliver(route, job)
        return full

    async def _deliver(self, route: _Route, job: Job) -> None:
        if route.validate is not None:
            try:
                route.validate(job)
            except Exception as exc:
                self.rejected += 1
                error = f"invalid payload: {type(exc).__name__}: {exc}"
                log.warning("job %d (%s) rejected: %s", job.id, job.type, error)
                with contextlib.suppress(QueueError):  # lease already gone: nothing to record
                    await self._queue.fail(job.id, route.owner, error, retryable=False)
                return
        route.in_flight[job.id] = job
        self.dispatched += 1
        try:
            route.mailbox.send_nowait(job)
        except trio.WouldBlock:
            await route.mailbox.send(job)

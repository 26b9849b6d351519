"""Notifications: events become durable ``notify`` jobs; the notifier stage delivers them.

Three parts, so that a notification never slows or stops trading:

- :class:`Notices`, what the rest of the daemon calls. ``emit`` never blocks: it puts the
  ``notify`` job in a bounded outbox (a full outbox drops the notice, counted and logged);
  ``jobs`` gives the same jobs to a handler that completes its own job with them (execution,
  the reporter), so they commit atomically with the step that caused them.
- :class:`NotifyWatch`, an actor: moves the outbox into the durable queue, and polls the
  broker for fills and exits (notices keyed by client order id, so a restart that sees a fill
  again stores it once). It also watches lifecycle events for restart storms and a failed
  reconciliation. Restart: permanent.
- :class:`Notifier`, the ``notifier`` stage's handler: fans an event out to one job per
  destination that wants it, then sends each within a token bucket per destination (a burst
  past it collapses into one summary job). A transient failure (5xx, no answer) fails the job
  for the queue's back-off; a permanent one (4xx) is :class:`NotifyRejected`: dead at once,
  with the reason, and one WARNING.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Final, final

import trio

from actors.events import ActorExited, ActorRestarted
from finagent.domain.errors import NotifyError, NotifyRejected, ReconciliationError
from finagent.domain.job_types import NotifyJob, payload_as
from finagent.domain.jobs import NewJob
from finagent.domain.notify import Destination, Notice, NoticeKind, summary_of
from finagent.services.outage import patiently

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from actors import ActorContext
    from actors.events import LifecycleEvent
    from finagent.domain.job_types import JobPayload
    from finagent.domain.jobs import Job
    from finagent.domain.notify import RateLimiter
    from finagent.domain.orders import BrokerOrder
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.notify import Sender
    from finagent.ports.queue import JobQueue

__all__ = ["Notices", "Notifier", "NotifyWatch", "notify_job"]

log = logging.getLogger(__name__)

#: Restarts of one actor within STORM_WINDOW_S that make a storm (the alert's threshold).
STORM_RESTARTS: Final = 3
STORM_WINDOW_S: Final = 300.0


def notify_job(notice: Notice) -> NewJob:
    """The durable job of one event: keyed ``notify:<event key>``, so it is stored once."""
    return NotifyJob(notice).job(f"notify:{notice.key}")


@final
class Notices:
    """The daemon's side of notifications: ``emit`` (never blocks) and ``jobs`` (as outputs).

    Disabled (no destination configured), both do nothing: no job is ever made.
    """

    def __init__(
        self, enabled: bool, *, capacity: int = 256, metrics: Metrics | None = None
    ) -> None:
        self.enabled = enabled
        self._send, self.outbox = trio.open_memory_channel[NewJob](capacity)
        self._metrics = metrics
        self._dropped = 0
        #: client order ids of brackets submitted by this process: the watch follows them
        self.submitted: set[str] = set()

    def emit(self, notice: Notice) -> None:
        """Queue ``notice`` for the outbox; a full outbox drops it (a metric and a WARNING)."""
        if not self.enabled:
            return
        try:
            self._send.send_nowait(notify_job(notice))
        except trio.WouldBlock:
            self._dropped += 1
            if self._metrics is not None:
                self._metrics.notifications.labels("outbox", notice.kind.value, "dropped").inc()
            if self._dropped == 1 or self._dropped % 100 == 0:
                log.warning(
                    "notification outbox full: %d notice(s) dropped so far (latest: %s)",
                    self._dropped, notice.title,
                )  # fmt: skip

    def jobs(self, *notices: Notice) -> list[NewJob]:
        """The ``notify`` jobs of ``notices`` for a handler's outputs ([] when disabled)."""
        if not self.enabled:
            return []
        self.submitted.update(
            n.key.removeprefix("submitted:")
            for n in notices
            if n.kind is NoticeKind.ORDER_SUBMITTED
        )
        return [notify_job(n) for n in notices]


@final
class NotifyWatch:
    """Moves notices into the queue and watches for fills, exits and restart storms.

    Receives nothing. Restart: permanent (the outbox survives it: the channel is the
    :class:`Notices`'; fills seen before are seen again and stored once by key).
    """

    def __init__(
        self,
        notices: Notices,
        queue: JobQueue,
        broker: Broker,
        now: Callable[[], float],
        *,
        poll_s: float = 5.0,
    ) -> None:
        self._notices = notices
        self._queue = queue
        self._broker = broker
        self._now = now
        self._poll_s = poll_s
        self._filled: set[str] = set()
        self._following: set[str] = set()
        self._restarts: dict[str, list[float]] = {}

    async def run(self, ctx: ActorContext[object]) -> None:
        """Drain the outbox and poll the broker until the supervisor asks to stop."""
        ctx.started()
        await ctx.background(self._loops)

    async def _loops(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.drain)
            while True:
                await self.poll_orders()
                await trio.sleep(self._poll_s)

    async def drain(self) -> None:
        """Enqueue every notice of the outbox, waiting out a queue outage (never dropping)."""
        async for job in self._notices.outbox:
            await patiently(partial(self._queue.enqueue, [job]), f"notice {job.key}")

    async def poll_orders(self) -> None:
        """Notice new fills, and exits of the orders followed (with their gross P&L).

        Every order seen open (pending or filled) is followed until it leaves the open set;
        then it is looked up once, so a bracket that filled and exited between two polls
        still gets both notices (each keyed by client order id: stored once).
        """
        try:
            open_orders = await self._broker.open_orders()
        except Exception as exc:  # the broker's trouble is execution's to handle, not ours
            log.debug("notify: cannot list open orders: %s", exc)
            return
        open_ids = {o.client_order_id for o in open_orders}
        self._following |= self._notices.submitted
        self._notices.submitted.clear()
        for order in open_orders:
            self._following.add(order.client_order_id)
            self._fill_notice(order)
        for cid in sorted(self._following - open_ids):
            self._following.discard(cid)
            await self._closed(cid)

    def _fill_notice(self, order: BrokerOrder) -> None:
        o = order.order
        cid = o.client_order_id
        if order.filled_price is not None and cid not in self._filled:
            self._filled.add(cid)
            self._notices.emit(Notice.order_filled(
                cid, o.side.value, o.quantity, o.symbol, order.filled_price
            ))  # fmt: skip

    async def _closed(self, cid: str) -> None:
        try:
            order = await self._broker.order_by_client_id(cid)
        except Exception as exc:
            log.debug("notify: cannot look up %s: %s", cid, exc)
            return
        if order is None or order.filled_price is None:
            return  # cancelled or expired unfilled: nothing happened worth a message
        self._fill_notice(order)
        self._filled.discard(cid)
        if order.exit_price is None:
            return
        o = order.order
        sign = 1 if o.side.value == "long" else -1
        pnl = (order.exit_price - order.filled_price) * o.quantity * sign
        how = order.exit_kind.value if order.exit_kind is not None else "closed"
        self._notices.emit(
            Notice.order_exited(cid, o.symbol, o.quantity, how, order.exit_price, pnl)
        )

    def on_event(self, event: LifecycleEvent) -> None:
        """Observer hook: a restart storm, or execution refusing to start on a mismatch."""
        if isinstance(event, ActorRestarted):
            now = self._now()
            seen = [t for t in self._restarts.get(event.name, []) if now - t < STORM_WINDOW_S]
            seen.append(now)
            self._restarts[event.name] = seen
            if len(seen) == STORM_RESTARTS + 1:
                self._notices.emit(Notice.restart_storm(
                    f"{event.name}:{int(now)}", event.name, len(seen), STORM_WINDOW_S
                ))  # fmt: skip
        elif isinstance(event, ActorExited) and isinstance(event.exc, ReconciliationError):
            self._notices.emit(Notice.reconciliation(f"{int(self._now())}", str(event.exc)))


@final
class Notifier:
    """JobHandler for ``notify``: fan out per destination, rate-limit, send. Emits summaries."""

    def __init__(
        self,
        sender: Sender,
        destinations: Sequence[Destination],
        limiter: RateLimiter,
        now: Callable[[], float],
        metrics: Metrics | None = None,
    ) -> None:
        self._sender = sender
        self._destinations = list(destinations)
        self._limiter = limiter
        self._now = now
        self._metrics = metrics
        self._changed = trio.Event()
        self.delivered: set[str] = set()

    async def start(self) -> None:
        """Nothing to recover: undelivered notices are jobs in the queue."""

    async def handle(self, job: Job, payload: JobPayload) -> Sequence[NewJob]:
        """Fan an event out, or deliver one destination's job (or hold it for a summary)."""
        n = payload_as(payload, NotifyJob)
        notice, dest = n.notice, n.destination
        if dest is None:
            return [
                NotifyJob(notice, d.name).job(f"{job.key}:{d.name}")
                for d in self._destinations
                if d.wants(notice.kind, notice.level)
            ]
        if notice.kind is NoticeKind.SUMMARY:
            held = self._limiter.take_held(dest)
            if held:
                title, body = summary_of(held)
                await self._deliver(job.key, dest, NoticeKind.SUMMARY, title, body, notice)
            return []
        now = self._now()
        if not self._limiter.admit(dest, now):
            self._count(dest, notice.kind, "held")
            if self._limiter.hold(dest, notice.title) > 1:
                return []
            summary = Notice(NoticeKind.SUMMARY, notice.level, f"summary:{dest}:{int(now)}", "")
            run_at = now + self._limiter.refill_s()
            return [NotifyJob(summary, dest).job(f"notify:{summary.key}", run_at=run_at)]
        await self._deliver(job.key, dest, notice.kind, notice.title, notice.body, notice)
        return []

    async def _deliver(
        self, key: str, dest: str, kind: NoticeKind, title: str, body: str, notice: Notice
    ) -> None:
        try:
            await self._sender.send(dest, title, body, notice.level)
        except NotifyRejected as exc:
            self._count(dest, kind, "rejected")
            log.warning("notification %s refused for good, left dead: %s", key, exc)
            raise
        except NotifyError:
            self._count(dest, kind, "failed")
            raise
        self._count(dest, kind, "delivered")
        self.delivered.add(key)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_delivered(self, notice: Notice, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until every destination that wants ``notice`` got it."""
        base = notify_job(notice).key
        keys = {
            f"{base}:{d.name}" for d in self._destinations if d.wants(notice.kind, notice.level)
        }
        with trio.move_on_after(timeout_s):
            while not keys <= self.delivered:
                await self._changed.wait()
            return True
        return False

    def _count(self, dest: str, kind: NoticeKind, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.notifications.labels(dest, kind.value, outcome).inc()

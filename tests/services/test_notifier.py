"""The notifier: fan-out per destination, rate limit with one summary, retry vs dead letter."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
import trio

from actors.events import ActorExited, ActorRestarted, ExitReason
from finagent.domain.errors import NotifyError, NotifyRejected, ReconciliationError
from finagent.domain.job_types import NotifyJob
from finagent.domain.jobs import Job, JobStatus, NewJob
from finagent.domain.notify import Destination, Level, Notice, NoticeKind, RateLimiter
from finagent.observability import Metrics
from finagent.services.notifier import Notices, Notifier, NotifyWatch, notify_job
from finagent.services.stage import Stage

FILL = Notice.order_filled("cid-1", "buy", 10, "AAPL", Decimal("101.5"))


class _Sender:
    """Records deliveries; raises the next scripted error first."""

    def __init__(self, errors: list[Exception] | None = None) -> None:
        self.errors = list(errors or [])
        self.sent: list[tuple[str, str, str]] = []

    def names(self) -> tuple[str, ...]:
        return ("phone", "ops")

    async def send(self, destination: str, title: str, body: str, level: Level) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((destination, title, body))


def _job(new: NewJob, job_id: int = 1) -> Job:
    return Job(job_id, new.type, new.key, dict(new.payload), JobStatus.RUNNING, 1, 5, 0.0, 0.0,
               0.0, lease_owner="w")  # fmt: skip


def _notifier(sender: _Sender, metrics: Metrics | None = None, burst: int = 10) -> Notifier:
    dests = [
        Destination("phone", frozenset({NoticeKind.ORDER_FILLED}), Level.INFO),
        Destination("ops", min_level=Level.WARNING),
    ]
    return Notifier(sender, dests, RateLimiter(60.0, burst), lambda: 1000.0, metrics)


async def test_an_event_fans_out_to_the_destinations_that_want_it() -> None:
    notifier = _notifier(_Sender())
    event = notify_job(FILL)
    outputs = await notifier.handle(_job(event), NotifyJob.decode(event.payload))
    assert [o.key for o in outputs] == ["notify:filled:cid-1:phone"]  # ops wants warning+
    loss = notify_job(Notice.loss_limit("2026-03-02", "lost 1000"))
    outputs = await notifier.handle(_job(loss), NotifyJob.decode(loss.payload))
    assert [o.key for o in outputs] == ["notify:loss_limit:2026-03-02:ops"]


async def test_a_destination_job_is_delivered_and_counted() -> None:
    sender, metrics = _Sender(), Metrics(process_collectors=False)
    notifier = _notifier(sender, metrics)
    job = NotifyJob(FILL, "phone").job("notify:filled:cid-1:phone")
    assert await notifier.handle(_job(job), NotifyJob.decode(job.payload)) == []
    assert sender.sent == [("phone", "AAPL: buy 10 filled at 101.5", "cid-1")]
    labels = {"destination": "phone", "kind": "order_filled", "outcome": "delivered"}
    assert metrics.registry.get_sample_value("finagent_notifications_total", labels) == 1
    assert await notifier.wait_delivered(FILL, 1.0) is True


async def test_a_burst_past_the_rate_collapses_into_one_summary() -> None:
    sender = _Sender()
    notifier = _notifier(sender, burst=2)
    outputs: list[NewJob] = []
    for i in range(5):
        n = Notice.order_filled(f"c{i}", "buy", 1, f"S{i}", Decimal("1"))
        job = NotifyJob(n, "phone").job(f"notify:filled:c{i}:phone")
        outputs += await notifier.handle(_job(job), NotifyJob.decode(job.payload))
    assert len(sender.sent) == 2
    assert len(outputs) == 1  # one summary job for the three held, due when a token is back
    summary = outputs[0]
    assert summary.run_at == 1001.0
    await notifier.handle(_job(summary), NotifyJob.decode(summary.payload))
    assert sender.sent[-1][1] == "3 notification(s) collapsed (rate limit)"
    assert sender.sent[-1][2].splitlines() == [f"S{i}: buy 1 filled at 1" for i in (2, 3, 4)]
    await notifier.handle(_job(summary), NotifyJob.decode(summary.payload))  # replay: nothing
    assert len(sender.sent) == 3


class _Queue:
    def __init__(self) -> None:
        self.failed: list[tuple[str, bool]] = []
        self.completed: list[int] = []

    async def complete(self, job_id: int, owner: str, outputs: list[NewJob]) -> list[Job]:
        self.completed.append(job_id)
        return []

    async def fail(self, job_id: int, owner: str, error: str, *, retryable: bool = True) -> Job:
        self.failed.append((error, retryable))
        return _job(NotifyJob(FILL, "phone").job("k"))


async def test_a_transient_failure_is_retried_and_a_permanent_one_is_dead_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = _Sender([NotifyError("destination phone: not delivered (HTTP 500)"),
                      NotifyRejected("destination phone: refused (HTTP 400)")])  # fmt: skip
    queue = _Queue()
    stage = Stage(_notifier(sender), queue, lambda: 1.0)  # type: ignore[arg-type]
    job = _job(NotifyJob(FILL, "phone").job("notify:filled:cid-1:phone"))
    with caplog.at_level(logging.WARNING):
        await stage.process(job)
        await stage.process(job)
        await stage.process(job)
    assert queue.failed == [
        ("NotifyError: destination phone: not delivered (HTTP 500)", True),
        ("destination phone: refused (HTTP 400)", False),
    ]
    assert queue.completed == [1]
    assert "refused for good, left dead" in caplog.text


async def test_notices_disabled_make_no_jobs_and_a_full_outbox_drops() -> None:
    off = Notices(enabled=False)
    off.emit(FILL)
    assert off.jobs(FILL) == []
    metrics = Metrics(process_collectors=False)
    on = Notices(enabled=True, capacity=1, metrics=metrics)
    on.emit(FILL)
    on.emit(FILL)  # the outbox holds one: the second is dropped, never blocking
    labels = {"destination": "outbox", "kind": "order_filled", "outcome": "dropped"}
    assert metrics.registry.get_sample_value("finagent_notifications_total", labels) == 1
    assert [j.key for j in on.jobs(FILL)] == ["notify:filled:cid-1"]


class _Broker:
    def __init__(self, orders: list[object]) -> None:
        self.orders = orders
        self.by_id: dict[str, object] = {}

    async def open_orders(self) -> list[object]:
        return self.orders

    async def order_by_client_id(self, cid: str) -> object | None:
        return self.by_id.get(cid)


class _EnqueueQueue:
    def __init__(self) -> None:
        self.keys: list[str] = []

    async def enqueue(self, jobs: list[NewJob], *, parent_id: int | None = None) -> list[Job]:
        self.keys += [j.key for j in jobs]
        return []


async def test_the_watch_notices_fills_exits_storms_and_a_reconciliation_failure() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime
    from decimal import Decimal

    from finagent.domain.orders import BracketOrder, BrokerOrder, FillKind, OrderStatus, Side

    o = BracketOrder("cid-1", "AAPL", Side.LONG, 10, Decimal("100"), Decimal("99"), Decimal("103"))
    at = datetime(2026, 3, 2, 15, tzinfo=UTC)
    filled = BrokerOrder(o, "b1", OrderStatus.FILLED, at, 10, Decimal("100"), at)
    broker = _Broker([filled])
    notices, queue, now = Notices(enabled=True), _EnqueueQueue(), [0.0]
    watch = NotifyWatch(notices, queue, broker, lambda: now[0])  # type: ignore[arg-type]
    await watch.poll_orders()
    await watch.poll_orders()  # seen once
    broker.orders = []
    broker.by_id["cid-1"] = replace(filled, exit_price=Decimal("103"), exit_kind=FillKind.TARGET,
                                    closed_at=at)  # fmt: skip
    await watch.poll_orders()
    for t in (1.0, 2.0, 3.0, 4.0, 5.0):
        now[0] = t
        watch.on_event(ActorRestarted("scanner", 1, 0.1))
    watch.on_event(ActorExited("execution", ExitReason.ERROR, ReconciliationError("AAPL: 10 vs 0")))
    notices._send.close()  # the outbox ends: drain returns
    await watch.drain()
    assert queue.keys == [
        "notify:filled:cid-1", "notify:exited:cid-1", "notify:storm:scanner:4",
        "notify:reconcile:5",
    ]  # fmt: skip
    assert NoticeKind.ORDER_EXITED.value == "order_exited"


async def test_wait_delivered_gives_up_after_its_timeout() -> None:
    t0 = trio.current_time()
    assert await _notifier(_Sender()).wait_delivered(FILL, 0.05) is False
    assert trio.current_time() - t0 >= 0.05


async def test_the_watch_follows_submitted_and_pending_orders_to_their_fill_and_exit() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from finagent.domain.orders import BracketOrder, BrokerOrder, FillKind, OrderStatus, Side

    at = datetime(2026, 3, 2, 15, tzinfo=UTC)

    def order(cid: str, status: OrderStatus, filled: str | None, exit_: str | None) -> BrokerOrder:
        o = BracketOrder(cid, "MSFT", Side.SHORT, 5, Decimal("50"), Decimal("51"), Decimal("48"))
        return BrokerOrder(o, "b", status, at, 5 if filled else 0,
                           Decimal(filled) if filled else None, at if filled else None,
                           Decimal(exit_) if exit_ else None, FillKind.STOP if exit_ else None,
                           at if exit_ else None)  # fmt: skip

    notices, queue = Notices(enabled=True), _EnqueueQueue()
    broker = _Broker([order("pending", OrderStatus.PENDING, None, None)])
    watch = NotifyWatch(notices, queue, broker, lambda: 0.0)  # type: ignore[arg-type]
    # Submitted by execution (a handler's outputs) and closed before the watch polled.
    jobs = notices.jobs(Notice.order_submitted("quick", "short", 5, "MSFT", Decimal("50"),
                                               Decimal("51"), Decimal("48")))  # fmt: skip
    assert [j.key for j in jobs] == ["notify:submitted:quick"]
    broker.by_id["quick"] = order("quick", OrderStatus.CLOSED, "50", "51")
    await watch.poll_orders()
    broker.orders = []  # the pending one filled and stopped out between two polls
    broker.by_id["pending"] = order("pending", OrderStatus.CLOSED, "50", "48")
    await watch.poll_orders()
    broker.orders = [order("gone", OrderStatus.PENDING, None, None),
                     order("lost", OrderStatus.PENDING, None, None)]  # fmt: skip
    await watch.poll_orders()
    broker.orders = []  # "gone" was cancelled unfilled; "lost" cannot be looked up

    async def lookup(cid: str) -> object | None:
        if cid == "lost":
            raise OSError("broker down")
        return order(cid, OrderStatus.CANCELED, None, None)

    broker.order_by_client_id = lookup  # type: ignore[method-assign]
    await watch.poll_orders()

    async def down() -> list[object]:
        raise OSError("broker down")

    broker.open_orders = down  # type: ignore[method-assign]
    await watch.poll_orders()  # the broker's trouble is execution's: nothing, no raise
    notices._send.close()
    await watch.drain()
    assert queue.keys == ["notify:filled:quick", "notify:exited:quick",
                          "notify:filled:pending", "notify:exited:pending"]  # fmt: skip


async def test_an_order_that_leaves_the_open_set_filled_but_not_exited_gets_its_fill_only() -> None:
    from datetime import UTC, datetime

    from finagent.domain.orders import BracketOrder, BrokerOrder, OrderStatus, Side

    o = BracketOrder("cid-9", "NVDA", Side.LONG, 3, Decimal("10"), Decimal("9"), Decimal("12"))
    at = datetime(2026, 3, 2, 15, tzinfo=UTC)
    broker = _Broker([])
    # Not open any more, filled, no exit recorded yet (the broker closed the order record
    # before its exit leg reported): the fill is news, an exit is not claimed.
    broker.by_id["cid-9"] = BrokerOrder(o, "b9", OrderStatus.FILLED, at, 3, Decimal("10"), at)
    notices, queue = Notices(enabled=True), _EnqueueQueue()
    watch = NotifyWatch(notices, queue, broker, lambda: 0.0)  # type: ignore[arg-type]
    notices.jobs(Notice.order_submitted("cid-9", "long", 3, "NVDA", Decimal("10"), Decimal("9"),
                                        Decimal("12")))  # fmt: skip
    await watch.poll_orders()
    await watch.poll_orders()  # followed no more: looked up once
    notices._send.close()
    await watch.drain()
    assert queue.keys == ["notify:filled:cid-9"]


async def test_only_a_burst_of_restarts_within_the_window_is_a_storm() -> None:
    from actors.events import ActorStarted

    notices, queue, now = Notices(enabled=True), _EnqueueQueue(), [0.0]
    watch = NotifyWatch(notices, queue, _Broker([]), lambda: now[0])  # type: ignore[arg-type]
    for t in (0.0, 200.0, 400.0, 600.0, 800.0):  # 5 restarts, never 4 within 300 s
        now[0] = t
        watch.on_event(ActorRestarted("risk", 1, 0.1))
    watch.on_event(ActorStarted("risk"))  # other events: not a storm, not a mismatch
    watch.on_event(ActorExited("risk", ExitReason.ERROR, RuntimeError("boom")))
    for t in (900.0, 901.0, 902.0):  # with 800: 4 within the window, the storm threshold
        now[0] = t
        watch.on_event(ActorRestarted("risk", 1, 0.1))
    notices._send.close()
    await watch.drain()
    assert queue.keys == ["notify:storm:risk:902"]


def test_a_full_outbox_without_metrics_warns_on_the_first_drop_then_every_100th(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notices = Notices(enabled=True, capacity=1)
    with caplog.at_level(logging.WARNING):
        for _ in range(102):  # 1 kept, 101 dropped: warnings at drop 1 and drop 100
            notices.emit(FILL)
    latest = "(latest: AAPL: buy 10 filled at 101.5)"
    assert [r.getMessage() for r in caplog.records] == [
        f"notification outbox full: {n} notice(s) dropped so far {latest}" for n in (1, 100)
    ]


async def test_the_watch_actor_drains_the_outbox_and_polls_the_broker(autojump_clock) -> None:
    from actors import ChildSpec, SupervisorSpec, open_supervisor

    notices, queue = Notices(enabled=True), _EnqueueQueue()
    broker = _Broker([])
    polls: list[float] = []

    async def open_orders() -> list[object]:
        polls.append(trio.current_time())
        return []

    broker.open_orders = open_orders  # type: ignore[method-assign]
    watch = NotifyWatch(notices, queue, broker, lambda: 0.0, poll_s=5.0)  # type: ignore[arg-type]
    spec = SupervisorSpec("test", [ChildSpec("notify_watch", watch.run, shutdown_timeout=0.5)])
    async with open_supervisor(spec):
        t0 = trio.current_time()
        notices.emit(FILL)
        await trio.sleep(12)
    assert queue.keys == ["notify:filled:cid-1"]
    assert [round(t - t0) for t in polls] == [0, 5, 10]

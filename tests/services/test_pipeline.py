"""Pipeline stages over a real SQLite queue: bad payloads go dead, execution never doubles."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import trio

from finagent.adapters.sqlite.state import SqliteTradingStore, set_control
from finagent.domain.errors import BrokerUnavailable
from finagent.domain.job_types import ExecuteJob, PayloadError, ReportJob, decode_payload
from finagent.domain.jobs import JobStatus, NewJob, QueuePolicy
from finagent.domain.market import Session, Side
from finagent.domain.orders import bracket_for
from finagent.domain.pipeline import execute_key, session_to_json
from finagent.domain.planning import TradePlan
from finagent.domain.risk import RiskDecision, TradingState
from finagent.services.execution import Executor
from finagent.services.persistence import JobWriter, PersistentJobQueue, WriteRequest
from finagent.services.stage import Chaos, InjectedCrash, Stage
from finagent.services.trading_state import TradingSwitch, TradingWatch, WriterRecords
from tests.fakes import FakeBroker, FakeClock

OPEN = datetime(2025, 1, 6, 14, 30, tzinfo=UTC)
SESSION = Session(OPEN.date(), OPEN, OPEN + timedelta(hours=6, minutes=30))
PLAN = TradePlan(
    "20250106-ABC-long", "ABC", Side.LONG, Decimal("10.00"), Decimal("9.50"), Decimal("11.00"),
    OPEN + timedelta(minutes=5), OPEN + timedelta(hours=2), SESSION.close - timedelta(minutes=5),
    "opening_range",
)  # fmt: skip


def _approved(quantity=100):
    decision = RiskDecision(PLAN.key, True, quantity, (), TradingState.ACTIVE)
    return ExecuteJob(SESSION, PLAN, decision).encode()


@asynccontextmanager
async def _queue(path, clock, listener=None):
    store = SqliteTradingStore.open(path)
    send, receive = trio.open_memory_channel[WriteRequest](64)
    writer = JobWriter(store, QueuePolicy(max_attempts=3), clock.timestamp, inline=True)
    if listener is not None:
        writer.listen(listener)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer.serve, receive)
        yield PersistentJobQueue(send), WriterRecords(send)
        nursery.cancel_scope.cancel()
    store.close()


async def _claim_one(queue, job_type):
    (job,) = await queue.claim([job_type], 1, "test")
    return job


@pytest.mark.parametrize(
    ("job_type", "payload"),
    [
        ("scan", {}),
        ("score", {**session_to_json(SESSION), "candidates": [{"symbol": "X"}]}),
        ("execute", {**_approved(), "quantity": 0}),
        ("risk", {**session_to_json(SESSION), "plans": [{"side": "sideways"}]}),
        ("nope", {}),
    ],
)
def test_payloads_that_do_not_fit_their_type_are_refused(job_type, payload):
    with pytest.raises(PayloadError):
        decode_payload(job_type, payload)


async def test_a_bad_payload_goes_dead_at_once_without_retries(tmp_path):
    clock = FakeClock(OPEN)
    async with _queue(tmp_path / "q.db", clock) as (queue, _):
        executor = Executor(FakeBroker(clock), clock, TradingSwitch())
        await queue.enqueue([NewJob("execute", "execute:bad", {"approved": True})])
        job = await _claim_one(queue, "execute")
        await Stage(executor, queue, clock.timestamp).process(job)
        after = await queue.get(job.id)
    assert after.status is JobStatus.DEAD
    assert after.attempts == 1
    assert "missing field" in after.last_error


async def test_a_job_routed_to_a_stage_that_does_not_take_its_type_goes_dead(tmp_path):
    clock = FakeClock(OPEN)
    async with _queue(tmp_path / "q.db", clock) as (queue, _):
        executor = Executor(FakeBroker(clock), clock, TradingSwitch())
        await queue.enqueue([ReportJob(SESSION).job("report:2025-01-06")])
        job = await _claim_one(queue, "report")
        await Stage(executor, queue, clock.timestamp).process(job)
        after = await queue.get(job.id)
    assert after.status is JobStatus.DEAD and after.attempts == 1
    assert after.last_error == "execution does not take report jobs"


async def test_execute_sends_once_and_a_rerun_adopts_the_broker_order(tmp_path):
    clock = FakeClock(OPEN + timedelta(minutes=5, seconds=1))
    broker = FakeBroker(clock)
    async with _queue(tmp_path / "q.db", clock) as (queue, _):
        executor = Executor(broker, clock, TradingSwitch())
        stage = Stage(executor, queue, clock.timestamp, chaos=Chaos(1.0, 1))
        key = execute_key(SESSION, "ABC")
        await queue.enqueue([NewJob("execute", key, _approved())])
        job = await _claim_one(queue, "execute")
        with pytest.raises(InjectedCrash):  # crashes before the handler: nothing sent
            await stage.process(job)
        assert broker.submitted == []
        assert (await queue.get(job.id)).status is JobStatus.RUNNING  # the dispatcher fails it
        await queue.fail(job.id, job.lease_owner, "crashed")
        clock.advance(timedelta(seconds=2))
        job = await _claim_one(queue, "execute")
        stage_after = Stage(executor, queue, clock.timestamp)
        await executor.start()
        # The broker already has it (sent before a crash): adopted, never resent.
        await broker.submit(bracket_for(PLAN, 100, key))
        await stage_after.process(job)
        done = await queue.get(job.id)
    assert done.status is JobStatus.DONE
    assert len(broker.orders) == 1
    assert len(broker.submitted) == 1
    assert len(next(iter(broker.orders))) <= 48


async def test_unknown_outcome_is_looked_up_then_retried(tmp_path):
    clock = FakeClock(OPEN + timedelta(minutes=6))

    class FlakyBroker(FakeBroker):
        async def submit(self, order):
            raise BrokerUnavailable("timeout")

    broker = FlakyBroker(clock)
    async with _queue(tmp_path / "q.db", clock) as (queue, _):
        stage = Stage(Executor(broker, clock, TradingSwitch()), queue, clock.timestamp)
        await queue.enqueue([NewJob("execute", execute_key(SESSION, "ABC"), _approved())])
        job = await _claim_one(queue, "execute")
        await stage.process(job)
        after = await queue.get(job.id)
    assert after.status is JobStatus.PENDING
    assert "BrokerUnavailable" in after.last_error


async def test_halted_switch_blocks_entries_and_operator_flatten_becomes_a_job(tmp_path):
    clock = FakeClock(OPEN + timedelta(minutes=6))
    broker = FakeBroker(clock)
    path = tmp_path / "q.db"
    async with _queue(path, clock) as (queue, records):
        switch = TradingSwitch()
        watch = TradingWatch(switch, records, queue, broker, clock)
        await watch.poll()
        set_control(path, "halted", flatten=True, now=0.0)
        await watch.poll()
        assert switch.state is TradingState.HALTED
        flatten = await _claim_one(queue, "flatten")
        assert flatten.key == "flatten:halt:1"
        stage = Stage(Executor(broker, clock, switch), queue, clock.timestamp)
        await stage.process(flatten)
        await queue.enqueue([NewJob("execute", execute_key(SESSION, "ABC"), _approved())])
        await stage.process(await _claim_one(queue, "execute"))
        await watch.follow_account()
    assert broker.submitted == []


class _Crashy:
    """A handler that crashes its actor on jobs marked poison (and on the first try of flaky)."""

    def __init__(self):
        self.done = []
        self.starts = 0

    async def start(self):
        self.starts += 1

    async def handle(self, job, payload):
        if job.key.startswith("flatten:poison") or (
            job.key.startswith("flatten:flaky") and job.attempts == 1
        ):
            raise InjectedCrash(f"crash on {job.key}")
        self.done.append(job.key)
        return []


async def test_dispatcher_fails_a_crashed_stage_job_with_backoff_and_a_poison_one_ends_dead(
    tmp_path, autojump_clock
):
    from actors import ChildSpec, SupervisorSpec, open_supervisor
    from finagent.services.dispatcher import Dispatcher
    from finagent.services.routing import dispatcher_actor, trio_time_queue

    clock = FakeClock(OPEN)
    handler = _Crashy()
    dispatcher = None

    def on_commit(note):
        dispatcher.on_commit(note)

    async with _queue(tmp_path / "q.db", clock, on_commit) as (queue, _):
        view = trio_time_queue(
            queue, lambda when: trio.current_time() + max(0.0, when.timestamp() - clock.timestamp())
        )
        dispatcher = Dispatcher(view, trio.current_time, node="t")
        routes = {"flatten": "execution", "execute": "execution"}
        spec = SupervisorSpec(
            "root",
            [
                ChildSpec("dispatcher", dispatcher_actor(dispatcher, routes, queue)),
                ChildSpec("execution", Stage(handler, queue, clock.timestamp).run, mailbox_size=8),
            ],
            max_restarts=100,
        )
        poison, _flaky, *_ok, bad = await queue.enqueue(
            [NewJob("flatten", "flatten:poison"), NewJob("flatten", "flatten:flaky")]
            + [NewJob("flatten", f"flatten:ok{i}") for i in range(3)]
            + [NewJob("execute", "execute:bad", {"approved": True})]
        )
        async with open_supervisor(spec, dispatcher):
            for _ in range(600):
                await trio.sleep(1)
                clock.advance(timedelta(seconds=1))
                poison = await queue.get(poison.id)
                if len(handler.done) == 4 and poison.status is JobStatus.DEAD:
                    break
        bad = await queue.get(bad.id)
    assert sorted(handler.done) == ["flatten:flaky"] + [f"flatten:ok{i}" for i in range(3)]
    assert poison.status is JobStatus.DEAD and poison.attempts == 3
    assert "crash on flatten:poison" in poison.last_error
    assert bad.status is JobStatus.DEAD and bad.attempts == 1
    assert "invalid payload" in bad.last_error
    assert handler.starts >= 4  # restarted after each crash


async def test_the_dispatcher_view_of_the_queue_passes_through_and_wakes_in_trio_time(tmp_path):
    from finagent.services.routing import actor_types, trio_time_queue

    clock = FakeClock(OPEN)
    async with _queue(tmp_path / "q.db", clock) as (queue, _):
        view = trio_time_queue(queue, lambda when: (when - OPEN).total_seconds() / 60)
        (job,) = await view.enqueue([NewJob("flatten", "later", run_at=OPEN.timestamp() + 600)])
        assert await view.next_due(["flatten"]) == pytest.approx(10.001)  # 600 s at 60x
        assert await view.next_due(["scan"]) is None
        clock.advance(timedelta(minutes=10))
        (leased,) = await view.claim(["flatten"], 1, "o")
        assert await view.extend(leased.id, "o") is True
        assert await view.complete(leased.id, "o") == []
        assert (await queue.get(job.id)).status is JobStatus.DONE
        assert (await view.stats()).total(JobStatus.DONE) == 1
    assert actor_types({"a": "x", "b": "y", "c": "x"}) == {"x": ["a", "c"], "y": ["b"]}

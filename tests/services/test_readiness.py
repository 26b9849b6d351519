"""/readyz follows what the actors declare: not ready while the writer still recovers."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import httpx
import trio
from prometheus_client import CollectorRegistry

from actors import ActorStarted, ChildSpec, NullObserver, SupervisorSpec, run_supervisor
from actors.events import LifecycleEvent
from finagent.adapters.sqlite.store import SqliteJobStore
from finagent.app.parts import CountingObserver
from finagent.domain.jobs import QueuePolicy
from finagent.observability.health import ActorReadiness, Readiness
from finagent.ports.queue import StoreOp
from finagent.services.http import serve_http
from finagent.services.persistence import JobWriter
from tests.contract.backends import virtual_now

# A safety net against a hung test, not a wait: every step below finishes in milliseconds.
GUARD_S = 10


class GatedStore:
    """A real store whose first batch (the writer's recovery) waits for the test to open it."""

    def __init__(self, inner: SqliteJobStore) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()

    def apply(self, ops: Sequence[StoreOp], now: float, policy: QueuePolicy) -> list[object]:
        if not self.gate.is_set():
            self.entered.set()
            self.gate.wait(GUARD_S)
        return list(self.inner.apply(ops, now, policy))

    def close(self) -> None:
        self.inner.close()


async def test_readyz_is_not_ready_until_the_writer_declares_it_recovered(tmp_path: Path):
    store = GatedStore(SqliteJobStore.open(tmp_path / "q.db"))
    writer = JobWriter(store, QueuePolicy(), virtual_now)  # on its own thread, as in the daemon
    owners = {"recovery": ["persistence"], "db_writable": ["persistence"]}
    readiness = Readiness(owners)
    observer = CountingObserver(NullObserver())
    observer.listen(ActorReadiness(readiness, owners).on_event)
    declared = trio.Event()

    def on_event(event: LifecycleEvent) -> None:
        if isinstance(event, ActorStarted) and event.name == "persistence":
            declared.set()

    observer.listen(on_event)
    spec = SupervisorSpec("root", [ChildSpec("persistence", writer.run)])
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery, httpx.AsyncClient() as client:
            port = await nursery.start(serve_http, "127.0.0.1", 0, CollectorRegistry(), readiness)
            nursery.start_soon(run_supervisor, spec, observer)
            await trio.to_thread.run_sync(store.entered.wait)  # the writer is recovering
            recovering = await client.get(f"http://127.0.0.1:{port}/readyz")
            assert recovering.status_code == 503
            assert recovering.text.splitlines()[0] == "not ready: recovery, db_writable"
            store.gate.set()
            await declared.wait()
            ready = await client.get(f"http://127.0.0.1:{port}/readyz")
            assert (ready.status_code, ready.text.splitlines()[0]) == (200, "ready")
            nursery.cancel_scope.cancel()
    store.close()

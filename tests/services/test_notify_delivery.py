"""Delivery through real parts: a 500 is retried by the queue, a 400 is one dead letter.

The parts are the daemon's: a real SQLite queue (the writer, ``PersistentJobQueue``), the
dispatcher and the ``notifier`` stage under a supervisor (the routing of ``dispatcher_actor``),
the Apprise sender, and a real HTTP receiver on 127.0.0.1 behind a ``json://`` URL.

Time: a ``MockClock`` that moves only when the test jumps it. A send waits on a worker thread,
and an autojump clock would jump to the sender's timeout while it does (trio #456); frozen, the
loop simply waits for the thread. The test jumps over the queue's back-off itself (to the
failed job's ``run_at``), and waits on the writer's commits, never on a timer.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.testing

from actors import ChildSpec, SupervisorSpec, open_supervisor
from actors.events import LifecycleEvent
from finagent.adapters.notify.apprise_sender import AppriseSender
from finagent.adapters.sqlite.schema import list_jobs
from finagent.domain.job_types import JobType
from finagent.domain.jobs import Job, JobStatus, QueuePolicy
from finagent.domain.notify import Destination, Notice, RateLimiter
from finagent.services.dispatcher import Dispatcher
from finagent.services.notifier import Notifier, notify_job
from finagent.services.persistence import CommitNote
from finagent.services.routing import dispatcher_actor
from finagent.services.stage import Stage
from tests.contract.backends import QueueHarness, open_sqlite_harness, virtual_now
from tests.notify_receiver import open_receiver

pytestmark = pytest.mark.timeout(60)  # frozen time: a hang would otherwise wait for the global

POLICY = QueuePolicy(lease_s=30.0, max_attempts=5, retry_base_s=2.0, retry_max_s=10.0)
FILL = Notice.order_filled("cid-1", "buy", 10, "AAPL", Decimal("101.5"))
CANARY = "CANARYtok3n0f1notify"  # a token in the URL: it must never reach an error or a log


class _Commits:
    """Wakes a waiter after every commit of the writer (a listener: sync and fast)."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def __call__(self, note: CommitNote) -> None:
        self._event.set()
        self._event = trio.Event()

    async def until(self, check: Callable[[], bool]) -> None:
        """Return once ``check()`` holds, re-checking after each commit."""
        while True:
            event = self._event  # taken before checking: a commit in between still wakes us
            if check():
                return
            await event.wait()


class _Jobs:
    """The notify jobs as the SQLite file has them (read-only, as an operator would)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def all(self) -> list[Job]:
        conn = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return list_jobs(conn, job_type=JobType.NOTIFY.value)
        finally:
            conn.close()

    def by_key(self, key: str) -> Job | None:
        return next((j for j in self.all() if j.key == key), None)

    def has(self, key: str, status: JobStatus, attempts: int) -> Callable[[], bool]:
        def check() -> bool:
            job = self.by_key(key)
            return job is not None and job.status is status and job.attempts == attempts

        return check


@asynccontextmanager
async def delivering(
    tmp_path: Path, urls: dict[str, str]
) -> AsyncIterator[tuple[QueueHarness, _Commits, _Jobs]]:
    """The queue, dispatcher and notifier stage running, sending to ``urls`` (name -> URL)."""
    async with open_sqlite_harness(tmp_path / "q.db", POLICY) as h:
        commits = _Commits()
        h.writer.listen(commits)
        dispatcher = Dispatcher(h.queue, virtual_now, node="test")
        h.writer.listen(dispatcher.on_commit)
        notifier = Notifier(
            AppriseSender(urls, timeout_s=10.0),
            [Destination(name) for name in urls],
            RateLimiter(60.0, 10),
            virtual_now,
        )
        stage = Stage(notifier, h.queue, virtual_now)
        spec = SupervisorSpec("test", [
            ChildSpec("notifier", stage.run),
            ChildSpec("dispatcher", dispatcher_actor(dispatcher, {JobType.NOTIFY: "notifier"},
                                                     h.queue)),
        ])  # fmt: skip

        class _Observer:  # a crashed stage fails the job it held, as in the daemon
            def on_event(self, event: LifecycleEvent) -> None:
                dispatcher.on_event(event)

        async with open_supervisor(spec, _Observer()):
            yield h, commits, _Jobs(tmp_path / "q.db")


def _after_backoff(clock: trio.testing.MockClock, job: Job | None) -> None:
    """Jump the frozen clock to ``job``'s retry time (the queue's back-off)."""
    assert job is not None and job.status is JobStatus.PENDING
    clock.jump(job.run_at - virtual_now())


async def test_a_500_then_200_is_delivered_once_after_the_queues_retry(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    key = "notify:filled:cid-1:hook"
    with open_receiver([500]) as rx:
        async with delivering(tmp_path, {"hook": rx.url(f"hook/{CANARY}")}) as (h, commits, jobs):
            await h.queue.enqueue([notify_job(FILL)])
            await commits.until(jobs.has(key, JobStatus.PENDING, 1))
            failed = jobs.by_key(key)
            assert failed is not None
            assert failed.last_error == "NotifyError: destination hook: not delivered (HTTP 500)"
            assert len(rx.seen) == 1 and rx.delivered == []  # refused once, not yet retried
            _after_backoff(mock_clock, failed)
            await commits.until(jobs.has(key, JobStatus.DONE, 2))
            final = jobs.all()
    assert [b["title"] for b in rx.seen] == [FILL.title, FILL.title]  # the 500, then the 200
    assert [(b["title"], b["message"]) for b in rx.delivered] == [(FILL.title, FILL.body)]
    assert sorted((j.key, j.status, j.attempts) for j in final) == [
        ("notify:filled:cid-1", JobStatus.DONE, 1),  # the event, fanned out once
        (key, JobStatus.DONE, 2),
    ]
    assert not [j for j in final if j.status is JobStatus.DEAD]


async def test_a_400_is_one_dead_letter_naming_the_destination_and_others_still_get_it(
    tmp_path: Path, mock_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    key = "notify:filled:cid-1:broken"
    with open_receiver(then=400) as bad, open_receiver() as good:
        urls = {"broken": bad.url(f"hook/{CANARY}"), "phone": good.url()}
        with caplog.at_level(logging.WARNING, logger="finagent"):
            async with delivering(tmp_path, urls) as (h, commits, jobs):
                await h.queue.enqueue([notify_job(FILL)])
                await commits.until(jobs.has(key, JobStatus.DEAD, 1))
                await commits.until(jobs.has("notify:filled:cid-1:phone", JobStatus.DONE, 1))
                mock_clock.jump(POLICY.retry_max_s * 10)  # long past any back-off: no retry
                await trio.testing.wait_all_tasks_blocked()
                final = jobs.all()
                assert len(bad.seen) == 1  # refused once, never asked again
    dead = [j for j in final if j.status is JobStatus.DEAD]
    assert [(j.key, j.attempts) for j in dead] == [(key, 1)]
    assert dead[0].last_error == "destination broken: refused (HTTP 400)"
    assert CANARY not in (dead[0].last_error or "") and "127.0.0.1" not in dead[0].last_error
    assert [b["title"] for b in good.delivered] == [FILL.title]  # the other destination got it
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("finagent")
    ]
    assert warnings == [
        f"notification {key} refused for good, left dead: destination broken: refused (HTTP 400)"
    ]

"""The notify assembly: settings to destinations, and what each part does with notifications off.

Off means either nothing configured, or virtual time (``simulate``): no notifier, no watch, no
job, no listener, no message, and the daemon's calls into notifications return at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio

from actors.events import LifecycleEvent
from finagent.adapters.clocks import VirtualClock
from finagent.app.notify import (
    NotifyParts,
    destinations,
    notify_children,
    notify_parts,
    notify_started,
    notify_stopping,
    register_notify_secrets,
)
from finagent.app.parts import CountingObserver
from finagent.domain.job_types import NotifyJob
from finagent.domain.jobs import Job, JobStatus
from finagent.domain.notify import Destination, Level, NoticeKind, RateLimiter
from finagent.observability import Metrics
from finagent.observability.logs import REDACTED, RedactingFilter
from finagent.services.notifier import Notices, Notifier
from finagent.settings import Settings
from finagent.settings.loading import load_settings
from tests.fakes import FakeBroker, FakeClock
from tests.fakes.queue import FakeQueue

URL = "json://127.0.0.1:9/hook"
HOOK = {"FINAGENT_NOTIFY__DESTINATIONS__HOOK__URL": URL}


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    monkeypatch.chdir(tmp_path)  # no ./settings.yaml of the developer's
    return load_settings(environ=env).settings


class _Recording:
    """Stands in for the daemon's CountingObserver: remembers who listens."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[LifecycleEvent], None]] = []

    def listen(self, listener: Callable[[LifecycleEvent], None]) -> None:
        self.listeners.append(listener)

    def observer(self) -> CountingObserver:
        return self  # type: ignore[return-value]  # the one method notify_started calls


def _parts(tmp_path: Path, settings: Settings, *, virtual: bool) -> NotifyParts:
    """Build inside ``trio.run`` (the fake queue's clock reads Trio time)."""
    clock = FakeClock(datetime(2026, 3, 2, 14, tzinfo=UTC))
    queue = FakeQueue(VirtualClock(clock.now()))
    return notify_parts(settings, queue, FakeBroker(clock), clock,  # type: ignore[arg-type]
                        Metrics(process_collectors=False), virtual=virtual)  # fmt: skip


@pytest.mark.parametrize("kinds", ["order_filled, loss_limit", '["order_filled", "loss_limit"]'])
def test_a_destination_takes_the_kinds_and_level_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kinds: str
) -> None:
    settings = _settings(
        tmp_path, monkeypatch, **HOOK,
        FINAGENT_NOTIFY__DESTINATIONS__HOOK__KINDS=kinds,  # the env's comma list, or JSON
        FINAGENT_NOTIFY__DESTINATIONS__HOOK__MIN_LEVEL="WARNING",
    )  # fmt: skip
    wanted = frozenset({NoticeKind.ORDER_FILLED, NoticeKind.LOSS_LIMIT})
    assert destinations(settings) == [Destination("hook", wanted, Level.WARNING)]


def test_the_webhook_token_is_scrubbed_from_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "whk-S3cr3t-t0ken-of-test"
    settings = _settings(
        tmp_path, monkeypatch, FINAGENT_NOTIFY__WEBHOOK_TOKEN=token,
        FINAGENT_NOTIFY__DESTINATIONS__PHONE__KINDS="order_filled",  # no URL yet: skipped
    )  # fmt: skip
    register_notify_secrets(settings)
    record = logging.LogRecord("finagent", logging.INFO, __file__, 1, "bearer %s", (token,), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == f"bearer {REDACTED}"


async def test_nothing_configured_is_off_and_silent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, monkeypatch)
    with caplog.at_level(logging.INFO, logger="finagent"):
        parts = _parts(tmp_path, settings, virtual=True)
    assert (parts.notices.enabled, parts.notifier, parts.watch) == (False, None, None)
    assert caplog.records == []  # nothing configured: nothing to say, even in simulate


async def test_virtual_time_turns_configured_notifications_off_with_one_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, monkeypatch, **HOOK)
    with caplog.at_level(logging.INFO, logger="finagent"):
        parts = _parts(tmp_path, settings, virtual=True)
    assert (parts.notices.enabled, parts.notifier, parts.watch) == (False, None, None)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "notifications are off in virtual time (simulate)")
    ]
    on = _parts(tmp_path, settings, virtual=False)  # the same settings in real time: on
    assert on.notices.enabled and on.notifier is not None and on.watch is not None


async def test_with_notifications_off_the_daemons_calls_do_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.abc.Clock
) -> None:
    settings = _settings(tmp_path, monkeypatch, **HOOK)
    off = NotifyParts(Notices(enabled=False))
    for parts in (None, off):
        observer = _Recording()
        assert notify_children(parts) == []  # no watch in the tree
        notify_started(parts, observer.observer(), settings)
        assert observer.listeners == []  # no restart-storm listener
        t0 = trio.current_time()
        await notify_stopping(parts, settings, "a fault")
        assert trio.current_time() == t0  # no stop grace waited
    with pytest.raises(trio.WouldBlock):
        off.notices.outbox.receive_nowait()  # and no notice was made


async def test_started_listens_and_says_so_and_children_run_the_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, monkeypatch, **HOOK)
    parts = _parts(tmp_path, settings, virtual=False)
    assert parts.watch is not None
    assert [c.name for c in notify_children(parts)] == ["notify_watch"]
    observer = _Recording()
    notify_started(parts, observer.observer(), settings)
    assert observer.listeners == [parts.watch.on_event]
    job = parts.notices.outbox.receive_nowait()
    notice = NotifyJob.decode(job.payload).notice
    assert (notice.kind, notice.title) == (NoticeKind.LIFECYCLE, "finagent started")
    assert notice.body == "feed sim, broker paper, queue sqlite"


class _Sender:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def names(self) -> tuple[str, ...]:
        return ("hook",)

    async def send(self, destination: str, title: str, body: str, level: Level) -> None:
        self.sent.append(title)


def _on(sender: _Sender) -> NotifyParts:
    notifier = Notifier(sender, [Destination("hook")], RateLimiter(60.0, 10), lambda: 0.0)
    return NotifyParts(Notices(enabled=True), notifier)


async def test_a_stop_message_not_delivered_within_the_grace_is_one_warning(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    autojump_clock: trio.abc.Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = _settings(tmp_path, monkeypatch, **HOOK, FINAGENT_NOTIFY__STOP_GRACE_S="2")
    sender = _Sender()
    parts = _on(sender)  # nobody delivers: the notifier stage is not running
    t0 = trio.current_time()
    with caplog.at_level(logging.WARNING, logger="finagent"):
        await notify_stopping(parts, settings, None)
    assert trio.current_time() - t0 == pytest.approx(2.0)
    assert [r.getMessage() for r in caplog.records] == [
        "the stop notification was not delivered within 2 s; it goes out at the next start"
    ]
    job = parts.notices.outbox.receive_nowait()  # still a job: the next start sends it
    assert NotifyJob.decode(job.payload).notice.title == "finagent stopping cleanly"
    assert sender.sent == []


async def test_a_stop_message_delivered_within_the_grace_returns_quietly(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    autojump_clock: trio.abc.Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = _settings(tmp_path, monkeypatch, **HOOK)
    sender = _Sender()
    parts = _on(sender)
    notifier = parts.notifier
    assert notifier is not None

    def leased(payload: dict[str, object], key: str) -> Job:
        return Job(1, "notify", key, payload, JobStatus.RUNNING, 1, 5, 0.0, 0.0, 0.0,
                   lease_owner="w")  # fmt: skip

    async def stage() -> None:  # the notifier stage's work: fan out, then deliver
        event = await parts.notices.outbox.receive()
        for out in await notifier.handle(leased(dict(event.payload), event.key),
                                         NotifyJob.decode(event.payload)):  # fmt: skip
            await notifier.handle(leased(dict(out.payload), out.key), NotifyJob.decode(out.payload))

    with caplog.at_level(logging.WARNING, logger="finagent"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stage)
            await notify_stopping(parts, settings, "disk full")
    assert sender.sent == ["finagent stopping on a fault"]
    assert caplog.records == []

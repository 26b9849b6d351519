"""Notifications from settings: destinations, the Apprise sender, the notifier's parts.

Nothing configured (no ``notify.destinations``) gives disabled :class:`Notices`: no job is
made, no stage runs, nothing is sent, and nothing complains.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import trio

from actors import ChildSpec
from finagent.adapters.notify.apprise_sender import AppriseSender, secret_parts
from finagent.domain.errors import ConfigError, NotifyError
from finagent.domain.notify import ALL_KINDS, Destination, Level, Notice, NoticeKind, RateLimiter
from finagent.observability import register_secret
from finagent.services.http import AlertRoute
from finagent.services.notifier import Notices, Notifier, NotifyWatch

if TYPE_CHECKING:
    from finagent.app.parts import CountingObserver
    from finagent.observability import Metrics
    from finagent.ports.broker import Broker
    from finagent.ports.clock import Clock
    from finagent.ports.queue import JobQueue
    from finagent.settings import Settings

__all__ = [
    "NotifyParts",
    "alert_route",
    "destinations",
    "notify_children",
    "notify_parts",
    "notify_started",
    "notify_stopping",
    "open_sender",
    "register_notify_secrets",
    "send_test",
]

log = logging.getLogger(__name__)

#: the watch's broker poll in market seconds, and its floor in real ones (a poll syncs bars)
WATCH_POLL_S: Final = 5.0
WATCH_MIN_POLL_S: Final = 0.25


@dataclass
class NotifyParts:
    """What the daemon runs for notifications (``notifier`` and ``watch`` None when off)."""

    notices: Notices
    notifier: Notifier | None = None
    watch: NotifyWatch | None = None


def destinations(settings: Settings) -> list[Destination]:
    """Every configured destination as a domain value.

    Raises:
        ConfigError: a destination has no URL in the env, or names a kind that does not exist.
    """
    out: list[Destination] = []
    for name, d in settings.notify.destinations.items():
        if d.url is None or not d.url.get_secret_value():
            env = f"FINAGENT_NOTIFY__DESTINATIONS__{name.upper()}__URL"
            raise ConfigError(
                f"notify.destinations.{name}.url: not set; set it in the env as {env}"
            )
        if "all" in d.kinds:
            kinds = ALL_KINDS
        else:
            unknown = sorted(set(d.kinds) - {k.value for k in NoticeKind})
            if unknown:
                known = ", ".join(["all", *sorted(k.value for k in NoticeKind)])
                raise ConfigError(
                    f"notify.destinations.{name}.kinds: unknown kind {unknown[0]!r} "
                    f"(known: {known})"
                )
            kinds = frozenset(NoticeKind(k) for k in d.kinds)
        out.append(Destination(name, kinds, Level(d.min_level)))
    return out


def register_notify_secrets(settings: Settings) -> None:
    """Scrub every destination URL (and its token-like parts) and the webhook token from logs."""
    for d in settings.notify.destinations.values():
        if d.url is not None:
            for part in secret_parts(d.url.get_secret_value()):
                register_secret(part)
    token = settings.notify.webhook_token
    if token is not None and token.get_secret_value():
        register_secret(token.get_secret_value())


def open_sender(settings: Settings, only: str | None = None) -> AppriseSender:
    """The Apprise sender for every destination (or the one named ``only``).

    Raises:
        ConfigError: a URL apprise cannot use, or ``only`` names no destination.
    """
    n = settings.notify
    urls = {
        name: d.url.get_secret_value()
        for name, d in n.destinations.items()
        if d.url is not None and (only is None or name == only)
    }
    if only is not None and not urls:
        known = ", ".join(n.destinations) or "none configured"
        raise ConfigError(f"--to {only}: no such destination (known: {known})")
    return AppriseSender(urls, timeout_s=n.timeout_s)


def notify_parts(
    settings: Settings,
    queue: JobQueue,
    broker: Broker,
    clock: Clock,
    metrics: Metrics,
    *,
    virtual: bool = False,
    speed: float = 1.0,
) -> NotifyParts:
    """The notices, and when destinations are configured the notifier and its watch.

    ``virtual`` (``simulate``, on an autojump clock) turns them off: a send waits on a
    thread, and an autojump clock would jump to its timeout while it does (trio #456).
    ``speed`` (``up --speed N``) shortens the watch's broker poll so that it polls about
    every 5 s of the simulated market, but no more often than 4 times a second.

    Raises:
        ConfigError: see :func:`destinations` and :func:`open_sender`.
    """
    dests = destinations(settings)
    if dests and virtual:
        log.info("notifications are off in virtual time (simulate)")
    if not dests or virtual:
        return NotifyParts(Notices(enabled=False))
    register_notify_secrets(settings)
    n = settings.notify
    notices = Notices(enabled=True, metrics=metrics)
    limiter = RateLimiter(n.rate_per_minute, n.burst)
    notifier = Notifier(open_sender(settings), dests, limiter, clock.timestamp, metrics)
    poll_s = max(WATCH_MIN_POLL_S, WATCH_POLL_S / speed)
    watch = NotifyWatch(notices, queue, broker, trio.current_time, poll_s=poll_s)
    return NotifyParts(notices, notifier, watch)


async def send_test(settings: Settings, only: str | None = None) -> dict[str, str | None]:
    """Send a test message to each destination (or ``only``): name -> None, or the error.

    Raises:
        ConfigError: see :func:`destinations` and :func:`open_sender`.
    """
    destinations(settings)
    register_notify_secrets(settings)
    sender = open_sender(settings, only)
    results: dict[str, str | None] = {}
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    for name in sender.names():
        try:
            await sender.send(name, "finagent test", f"test message to {name} at {stamp}",
                              Level.INFO)  # fmt: skip
        except NotifyError as exc:
            results[name] = str(exc)
        else:
            results[name] = None
    return results


def notify_children(notify: NotifyParts | None) -> list[ChildSpec[Any]]:
    """The notify watch as a child of the services supervisor ([] when notifications are off)."""
    if notify is None or notify.watch is None:
        return []
    return [ChildSpec("notify_watch", notify.watch.run, shutdown_timeout=0.5)]


def notify_started(
    notify: NotifyParts | None, observer: CountingObserver, settings: Settings
) -> None:
    """Listen for restart storms and say the daemon started (the tree runs)."""
    if notify is None or notify.watch is None:
        return
    observer.listen(notify.watch.on_event)
    notify.notices.emit(Notice.lifecycle(
        f"start:{time.time():.3f}", "finagent started",
        f"feed {settings.feed}, broker {settings.broker}, queue {settings.queue_backend}",
    ))  # fmt: skip


async def notify_stopping(
    notify: NotifyParts | None, settings: Settings, fault: str | None
) -> None:
    """Say the daemon stops, and give the message ``notify.stop_grace_s`` to go out."""
    if notify is None or notify.notifier is None:
        return
    title = "finagent stopping cleanly" if fault is None else "finagent stopping on a fault"
    notice = Notice.lifecycle(f"stop:{time.time():.3f}", title, fault or "")
    notify.notices.emit(notice)
    if not await notify.notifier.wait_delivered(notice, settings.notify.stop_grace_s):
        log.warning(
            "the stop notification was not delivered within %g s; it goes out at the next start",
            settings.notify.stop_grace_s,
        )


def alert_route(notify: NotifyParts | None, settings: Settings) -> AlertRoute | None:
    """``POST /alertmanager`` on the metrics server when notifications are on (else None).

    Without ``notify.webhook_token`` the route accepts only a server bound to loopback.
    """
    if notify is None or notify.notifier is None:
        return None
    token = settings.notify.webhook_token
    secret = token.get_secret_value() if token is not None else ""
    return AlertRoute(notify.notices.emit, secret or None, _loopback(settings.metrics.host))


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"

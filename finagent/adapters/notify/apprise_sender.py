"""The Sender port over ``apprise``: one Apprise URL per destination (Telegram, Slack, JSON...).

Apprise is synchronous (``requests`` underneath), so each send runs in a worker thread under a
:class:`trio.CapacityLimiter` and a Trio deadline: the loop never waits on the network, and a
destination that hangs costs one thread until its socket times out, never the caller's time.

Apprise (2.x) answers a send with an ``AppriseResult`` whose per-service results keep the log
lines of each attempt; the HTTP status is in them (``error=500``), so the adapter tells a
transient failure (5xx, no answer) from a permanent one (4xx). The URLs embed tokens: they
never appear in an error this adapter raises (only the destination's name does).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Final, final
from urllib.parse import parse_qsl, urlsplit

import apprise
import trio

from finagent.domain.errors import ConfigError, NotifyError, NotifyRejected
from finagent.domain.notify import Level, is_permanent_status

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["AppriseSender", "secret_parts"]

_STATUS: Final = re.compile(r"error=(\d{3})")
_TYPES: Final = {
    Level.INFO: apprise.NotifyType.INFO,
    Level.WARNING: apprise.NotifyType.WARNING,
    Level.CRITICAL: apprise.NotifyType.FAILURE,
}
# Shorter pieces of a URL (a port, "json", "hook") are not secrets and would scrub too much.
_MIN_SECRET_LEN: Final = 8


def secret_parts(url: str) -> list[str]:
    """The pieces of ``url`` that may be tokens: the whole, the password, long path segments
    and query values. Each is registered with the log scrubber (apprise logs some of them)."""
    parts = urlsplit(url)
    pieces = [url, parts.password or "", parts.username or ""]
    pieces += parts.path.split("/") + [v for _, v in parse_qsl(parts.query)]
    if parts.scheme and "." not in parts.netloc and ":" not in parts.netloc:
        pieces.append(parts.netloc)  # tgram://<bot token>/<chat>: the "host" is the token
    return sorted({p for p in pieces if len(p) >= _MIN_SECRET_LEN}, key=len, reverse=True)


@final
class AppriseSender:
    """Sender over apprise. One ``apprise.Apprise`` per destination, built at construction."""

    def __init__(
        self, urls: Mapping[str, str], *, timeout_s: float = 10.0, threads: int = 2
    ) -> None:
        """Check every URL now: one apprise cannot use is a :class:`ConfigError` naming it.

        Raises:
            ConfigError: ``notify.destinations.<name>.url`` is not a URL apprise knows.
        """
        # Apprise keeps a send's log lines (the status is in them) only at the logger's level:
        # WARNING at least, whatever log.level says, or every failure would read "no answer".
        apprise_log = logging.getLogger("apprise")
        if not apprise_log.isEnabledFor(logging.WARNING) or apprise_log.level == logging.NOTSET:
            apprise_log.setLevel(logging.WARNING)
        self._timeout = timeout_s
        self._limiter = trio.CapacityLimiter(threads)
        self._targets: dict[str, apprise.Apprise] = {}
        for name, url in urls.items():
            target = apprise.Apprise()
            if not target.add(url):
                raise ConfigError(
                    f"notify.destinations.{name}.url: apprise cannot use this URL (its scheme "
                    "or form is unknown; see https://github.com/caronc/apprise/wiki)"
                )
            self._targets[name] = target

    def names(self) -> tuple[str, ...]:
        """The destinations, in settings order."""
        return tuple(self._targets)

    async def send(self, destination: str, title: str, body: str, level: Level) -> None:
        """Deliver in a worker thread within ``timeout_s`` (see the Sender port)."""
        target = self._targets.get(destination)
        if target is None:
            raise NotifyRejected(f"destination {destination}: not configured")
        with trio.move_on_after(self._timeout):
            ok, messages = await trio.to_thread.run_sync(
                self._send_sync, target, title, body, level,
                limiter=self._limiter, abandon_on_cancel=True,
            )  # fmt: skip
            if ok:
                return
            status = _status(messages)
            what = f"HTTP {status}" if status is not None else "no answer"
            if is_permanent_status(status):
                raise NotifyRejected(f"destination {destination}: refused ({what})")
            raise NotifyError(f"destination {destination}: not delivered ({what})")
        raise NotifyError(f"destination {destination}: no answer within {self._timeout:g} s")

    @staticmethod
    def _send_sync(
        target: apprise.Apprise, title: str, body: str, level: Level
    ) -> tuple[bool, list[str]]:
        result = target.notify(body=body or title, title=title, notify_type=_TYPES[level])
        messages = [str(entry.message) for r in result.results for entry in r.logs()]
        return bool(result), messages


def _status(messages: list[str]) -> int | None:
    for message in messages:
        found = _STATUS.search(message)
        if found:
            return int(found.group(1))
    return None

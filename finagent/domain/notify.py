"""Notifications as values: what happened (a :class:`Notice`), who wants it, and how fast.

Pure: the notifier service turns notices into ``notify`` jobs and sends them; everything it
decides (which destinations want a notice, whether a destination is over its rate, what a
burst collapses into, whether a failed delivery is worth retrying) is decided here.

A notice's ``key`` names the event, not the moment it was seen: the ``notify`` job is keyed
``notify:<key>``, so an event seen again after a restart (a fill found by the next poll, the
execute job replayed) is stored once and sent once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from decimal import Decimal

__all__ = [
    "ALL_KINDS",
    "Destination",
    "Level",
    "Notice",
    "NoticeKind",
    "RateLimiter",
    "alert_notices",
    "is_permanent_status",
    "summary_of",
]


class NoticeKind(StrEnum):
    """Every kind of event a destination may ask for (``notify.destinations.<name>.kinds``)."""

    ORDER_SUBMITTED = "order_submitted"
    ORDER_FILLED = "order_filled"
    ORDER_EXITED = "order_exited"
    ORDER_REJECTED = "order_rejected"
    TRADING_STATE = "trading_state"
    LOSS_LIMIT = "loss_limit"
    SCHEDULE_SKIPPED = "schedule_skipped"
    RECONCILIATION = "reconciliation"
    RESTART_STORM = "restart_storm"
    DAILY_REPORT = "daily_report"
    LIFECYCLE = "lifecycle"
    ALERT = "alert"
    SUMMARY = "summary"
    TEST = "test"


ALL_KINDS: Final = frozenset(NoticeKind)


class Level(StrEnum):
    """How much a notice matters; a destination takes its ``min_level`` and above."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for critical."""
        return _RANK[self]


_RANK: Final = {Level.INFO: 0, Level.WARNING: 1, Level.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Notice:
    """One event for the operator: a title line and a body, at a level."""

    kind: NoticeKind
    level: Level
    key: str
    title: str
    body: str = ""

    @classmethod
    def order_submitted(
        cls, cid: str, side: str, qty: int, symbol: str, entry: Decimal, stop: Decimal,
        target: Decimal,
    ) -> Notice:  # fmt: skip
        """A bracket went to the broker."""
        return cls(NoticeKind.ORDER_SUBMITTED, Level.INFO, f"submitted:{cid}",
                   f"{symbol}: {side} {qty} submitted",
                   f"entry {entry}, stop {stop}, target {target} ({cid})")  # fmt: skip

    @classmethod
    def order_filled(cls, cid: str, side: str, qty: int, symbol: str, price: Decimal) -> Notice:
        """A bracket's entry filled."""
        return cls(NoticeKind.ORDER_FILLED, Level.INFO, f"filled:{cid}",
                   f"{symbol}: {side} {qty} filled at {price}", cid)  # fmt: skip

    @classmethod
    def order_exited(
        cls, cid: str, symbol: str, qty: int, how: str, price: Decimal, pnl: Decimal
    ) -> Notice:
        """A position closed (target, stop, time stop or flatten), with its gross P&L."""
        sign = "+" if pnl >= 0 else ""
        return cls(NoticeKind.ORDER_EXITED, Level.INFO, f"exited:{cid}",
                   f"{symbol}: exited {qty} at {price} ({how}), P&L {sign}{pnl}", cid)  # fmt: skip

    @classmethod
    def order_rejected(cls, key: str, symbol: str, by: str, why: str) -> Notice:
        """An order risk refused (info: risk doing its job), or the broker rejected (warning)."""
        level = Level.INFO if by == "risk" else Level.WARNING
        return cls(NoticeKind.ORDER_REJECTED, level, f"rejected:{key}",
                   f"{symbol}: rejected by {by}", why)  # fmt: skip

    @classmethod
    def loss_limit(cls, session_date: str, detail: str) -> Notice:
        """The daily loss limit stopped new entries for the day (once per session)."""
        return cls(NoticeKind.LOSS_LIMIT, Level.CRITICAL, f"loss_limit:{session_date}",
                   f"daily loss limit hit on {session_date}: no new entries today",
                   detail)  # fmt: skip

    @classmethod
    def trading_state(cls, key: str, before: str, after: str, reason: str) -> Notice:
        """The trading state changed (halted, reducing, degraded, resumed)."""
        level = Level.INFO if after == "active" else Level.WARNING
        return cls(NoticeKind.TRADING_STATE, level, f"state:{key}",
                   f"trading {before} -> {after}", reason)  # fmt: skip

    @classmethod
    def schedule_skipped(cls, entry: str, fire_time: str) -> Notice:
        """A schedule firing was missed past its grace."""
        return cls(NoticeKind.SCHEDULE_SKIPPED, Level.WARNING, f"skipped:{entry}:{fire_time}",
                   f"schedule {entry} skipped",
                   f"the firing due at {fire_time} was missed past its grace")  # fmt: skip

    @classmethod
    def reconciliation(cls, key: str, detail: str) -> Notice:
        """Our book and the broker's disagree at start: execution refuses to trade."""
        return cls(NoticeKind.RECONCILIATION, Level.CRITICAL, f"reconcile:{key}",
                   "reconciliation mismatch at start: execution will not trade",
                   detail)  # fmt: skip

    @classmethod
    def restart_storm(cls, key: str, actor: str, restarts: int, within_s: float) -> Notice:
        """An actor restarted more than the storm threshold within the window."""
        return cls(NoticeKind.RESTART_STORM, Level.WARNING, f"storm:{key}",
                   f"actor {actor} restarted {restarts} times in {within_s:g} s",
                   "see its event=exited reason=error log lines")  # fmt: skip

    @classmethod
    def daily_report(cls, session_date: str, lines: Sequence[str]) -> Notice:
        """The day's numbers after the close, one message."""
        return cls(NoticeKind.DAILY_REPORT, Level.INFO, f"report:{session_date}",
                   f"daily report {session_date}", "\n".join(lines))  # fmt: skip

    @classmethod
    def lifecycle(cls, key: str, title: str, body: str = "") -> Notice:
        """The daemon started, or stopped cleanly."""
        return cls(NoticeKind.LIFECYCLE, Level.INFO, f"lifecycle:{key}", title, body)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where notices go: a name, the kinds it wants (all when empty) and its lowest level."""

    name: str
    kinds: frozenset[NoticeKind] = ALL_KINDS
    min_level: Level = Level.INFO

    def wants(self, kind: NoticeKind, level: Level) -> bool:
        """True when this destination takes a notice of ``kind`` at ``level``.

        Summaries and tests go to every destination: a summary stands for notices it wanted,
        and ``finagent notify test`` must reach each one.
        """
        if kind in (NoticeKind.SUMMARY, NoticeKind.TEST):
            return True
        return kind in self.kinds and level.rank >= self.min_level.rank


@dataclass
class _Bucket:
    tokens: float
    at: float
    held: list[str] = field(default_factory=list)


class RateLimiter:
    """A token bucket per destination: ``burst`` at once, then ``per_minute``.

    A notice over the rate is held (its title); the held titles of a destination go out as one
    summary when its window closes (:meth:`take_held`). Time is an argument (seconds).
    """

    def __init__(self, per_minute: float, burst: int) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, destination: str, now: float) -> bool:
        """Spend a token of ``destination`` if it has one; False means hold the notice."""
        b = self._buckets.setdefault(destination, _Bucket(self._burst, now))
        b.tokens = min(self._burst, b.tokens + max(0.0, now - b.at) * self._rate)
        b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return True
        return False

    def hold(self, destination: str, title: str) -> int:
        """Hold ``title`` for the next summary; returns how many are held now."""
        b = self._buckets.setdefault(destination, _Bucket(0.0, 0.0))
        b.held.append(title)
        return len(b.held)

    def refill_s(self) -> float:
        """Seconds until one token is back: when a held burst's summary may go."""
        return 1.0 / self._rate

    def take_held(self, destination: str) -> list[str]:
        """The titles held for ``destination`` since its last summary (and forget them)."""
        b = self._buckets.get(destination)
        if b is None:
            return []
        held, b.held = b.held, []
        return held


def summary_of(titles: Iterable[str], limit: int = 20) -> tuple[str, str]:
    """One message for a burst: a title with the count, and the first ``limit`` titles."""
    shown = list(titles)
    body = "\n".join(shown[:limit])
    if len(shown) > limit:
        body += f"\n... and {len(shown) - limit} more"
    return f"{len(shown)} notification(s) collapsed (rate limit)", body


def is_permanent_status(status: int | None) -> bool:
    """An HTTP status a retry cannot fix: 4xx except 408 (timeout) and 429 (rate limited).

    None (no answer: refused, timed out, reset) is transient, as are 5xx.
    """
    return status is not None and 400 <= status < 500 and status not in (408, 429)


_ALERT_LEVELS: Final = {"critical": Level.CRITICAL, "warning": Level.WARNING}


def _texts(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def alert_notices(payload: object) -> list[Notice]:
    """One ``alert`` notice per alert of an Alertmanager webhook payload (version 4).

    Keyed by the alert's fingerprint, status and start: Alertmanager resends a group every
    ``repeat_interval`` and after its own restarts, and each resend is stored once. A resolved
    alert is info; a firing one takes its ``severity`` label (critical, warning, else info).

    Raises:
        ValueError: the payload is not an object with an ``alerts`` list of objects.
    """
    alerts = payload.get("alerts") if isinstance(payload, dict) else None
    if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
        raise ValueError('expected an Alertmanager payload: {"alerts": [{...}, ...]}')
    out = []
    for alert in alerts:
        labels, notes = _texts(alert.get("labels")), _texts(alert.get("annotations"))
        status = str(alert.get("status", "firing"))
        name = labels.get("alertname", "alert")
        fingerprint = str(alert.get("fingerprint") or sorted(labels.items()))
        level = (
            Level.INFO
            if status == "resolved"
            else _ALERT_LEVELS.get(labels.get("severity", ""), Level.INFO)
        )
        summary = notes.get("summary", "")
        title = f"[{status}] {name}" + (f": {summary}" if summary else "")
        body = notes.get("description", "")
        key = f"alert:{fingerprint}:{status}:{alert.get('startsAt', '')}"
        out.append(Notice(NoticeKind.ALERT, level, key, title, body))
    return out

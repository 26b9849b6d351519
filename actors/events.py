"""Lifecycle events and the observer hook.

Logging and metrics plug in through `Observer`; the runtime never imports them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, final

__all__ = [
    "ActorExited",
    "ActorRestarted",
    "ActorStarted",
    "ExitReason",
    "LifecycleEvent",
    "LoopLag",
    "NullObserver",
    "Observer",
    "SupervisorEscalated",
    "SupervisorGaveUp",
]


class ExitReason(enum.Enum):
    """Why an actor (or a child supervisor) stopped running."""

    NORMAL = "normal"  # the factory returned
    ERROR = "error"  # it raised an Exception
    SHUTDOWN = "shutdown"  # its supervisor stopped it (graceful stop or cancel)


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """Base of every event; `name` is the actor's or supervisor's name."""

    name: str


@dataclass(frozen=True, slots=True)
class ActorStarted(LifecycleEvent):
    """A child actor (or a supervisor, once all its children started) is running."""


@dataclass(frozen=True, slots=True)
class ActorExited(LifecycleEvent):
    """A child stopped running; `exc` is set when `reason` is ERROR."""

    reason: ExitReason
    exc: BaseException | None = None


@dataclass(frozen=True, slots=True)
class ActorRestarted(LifecycleEvent):
    """A child will be started again after `delay` seconds; `attempt` counts recent restarts."""

    attempt: int
    delay: float


@dataclass(frozen=True, slots=True)
class SupervisorGaveUp(LifecycleEvent):
    """More than `restarts` restarts happened within `within` seconds: the supervisor stops."""

    restarts: int
    within: float


@dataclass(frozen=True, slots=True)
class SupervisorEscalated(LifecycleEvent):
    """A child supervisor gave up and raised `exc` to its parent supervisor."""

    exc: BaseException


@dataclass(frozen=True, slots=True)
class LoopLag(LifecycleEvent):
    """The watchdog woke `seconds` later than asked: the event loop was busy."""

    seconds: float


class Observer(Protocol):
    """Receives lifecycle events. Must be fast, must not block and should not raise."""

    def on_event(self, event: LifecycleEvent) -> None:
        """Handle one event."""
        ...


@final
class NullObserver:
    """An observer that ignores every event."""

    def on_event(self, event: LifecycleEvent) -> None:
        """Ignore the event."""

"""Helpers for testing code built on the runtime."""

from __future__ import annotations

from typing import TypeVar, final

from actors.events import LifecycleEvent

__all__ = ["RecordingObserver"]

E = TypeVar("E", bound=LifecycleEvent)


@final
class RecordingObserver:
    """An observer that keeps every event, in order, in `events`."""

    def __init__(self) -> None:
        self.events: list[LifecycleEvent] = []

    def on_event(self, event: LifecycleEvent) -> None:
        """Record the event."""
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        """The recorded events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def names(self, kind: type[LifecycleEvent]) -> list[str]:
        """The `name` of each recorded event of one type, in order."""
        return [e.name for e in self.of(kind)]

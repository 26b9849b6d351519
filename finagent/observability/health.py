"""Readiness: named boolean checks, flipped by what the actors declare (or by live checks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, final

from actors.events import ActorExited, ActorStarted

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from actors.events import LifecycleEvent

__all__ = ["DEFAULT_CHECKS", "ActorReadiness", "Readiness"]

DEFAULT_CHECKS: Final = ("recovery", "scheduler", "db_writable")
"""Recovery done, scheduler armed, database writable: what /readyz waits for by default."""


class Readiness:
    """A set of named checks; ready when every one is true. All start false.

    Flipped from the Trio thread and read by the HTTP handler on the same thread, so
    no lock is needed.
    """

    def __init__(self, checks: Iterable[str] = DEFAULT_CHECKS) -> None:
        self._checks: dict[str, bool] = dict.fromkeys(checks, False)
        if not self._checks:
            raise ValueError("Readiness needs at least one named check")

    def set(self, name: str, ok: bool = True) -> None:
        """Mark check ``name`` passing (or failing with ``ok=False``).

        Raises:
            KeyError: ``name`` is not one of the checks given at construction.
        """
        if name not in self._checks:
            raise KeyError(f"unknown readiness check {name!r}; known: {sorted(self._checks)}")
        self._checks[name] = ok

    def failing(self) -> list[str]:
        """Names of the checks that are not passing, in declaration order."""
        return [name for name, ok in self._checks.items() if not ok]

    @property
    def ready(self) -> bool:
        """True when every check passes."""
        return all(self._checks.values())

    def snapshot(self) -> dict[str, bool]:
        """A copy of every check and its state."""
        return dict(self._checks)


@final
class ActorReadiness:
    """Observer listener: each check passes while every actor behind it has declared started.

    An actor counts from its `ActorStarted` (reported when it calls `ctx.started()`, not when
    it was spawned) until its next `ActorExited`: a restarted actor fails its checks until
    the new incarnation declares again, and a stopping daemon goes not ready.

    Args:
        readiness: the checks to flip.
        owners: check name -> the actors it waits for.
    """

    def __init__(self, readiness: Readiness, owners: Mapping[str, Iterable[str]]) -> None:
        self._readiness = readiness
        self._owners = {check: frozenset(actors) for check, actors in owners.items()}
        self._declared: set[str] = set()

    def on_event(self, event: LifecycleEvent) -> None:
        """Track declarations and exits; re-evaluate the checks."""
        if isinstance(event, ActorStarted):
            self._declared.add(event.name)
        elif isinstance(event, ActorExited):
            self._declared.discard(event.name)
        else:
            return
        for check, actors in self._owners.items():
            self._readiness.set(check, actors <= self._declared)

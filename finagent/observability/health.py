"""Readiness: named checks, flipped by what the actors declare and by live checks.

A check has its last result: passing, or failing with a one-line reason (``/readyz`` shows
both). :func:`run_live_checks` re-evaluates the live ones (store writable, writer not stalled,
loop lag...) every ``every_s``; each is a plain function returning None or the reason it fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, final

import trio

from actors.events import ActorExited, ActorStarted

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from actors.events import LifecycleEvent

__all__ = ["DEFAULT_CHECKS", "ActorReadiness", "Readiness", "run_live_checks"]

DEFAULT_CHECKS: Final = ("recovery", "scheduler", "db_writable")
"""Recovery done, scheduler armed, database writable: what /readyz waits for by default."""


class Readiness:
    """A set of named checks; ready when every one is true. All start false.

    Flipped from the Trio thread and read by the HTTP handler on the same thread, so
    no lock is needed.
    """

    def __init__(self, checks: Iterable[str] = DEFAULT_CHECKS) -> None:
        self._checks: dict[str, bool] = dict.fromkeys(checks, False)
        self._reasons: dict[str, str] = {}
        if not self._checks:
            raise ValueError("Readiness needs at least one named check")

    def set(self, name: str, ok: bool = True, reason: str = "") -> None:
        """Mark check ``name`` passing (or failing with ``ok=False``, and why: ``reason``).

        Raises:
            KeyError: ``name`` is not one of the checks given at construction.
        """
        if name not in self._checks:
            raise KeyError(f"unknown readiness check {name!r}; known: {sorted(self._checks)}")
        self._checks[name] = ok
        self._reasons[name] = "" if ok else reason

    def reason(self, name: str) -> str:
        """Why check ``name`` fails (empty while it passes or when no reason was given)."""
        return self._reasons.get(name, "")

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


async def run_live_checks(
    readiness: Readiness, checks: Mapping[str, Callable[[], str | None]], every_s: float = 1.0
) -> None:
    """Forever: evaluate each live check, record its result in ``readiness``, wait ``every_s``.

    Args:
        readiness: holds a check of each name in ``checks``.
        checks: check name -> the function telling why it fails now (None: it passes).
        every_s: seconds between two evaluations (the staleness of ``/readyz``).
    """
    while True:
        for name, check in checks.items():
            reason = check()
            readiness.set(name, reason is None, reason or "")
        await trio.sleep(every_s)

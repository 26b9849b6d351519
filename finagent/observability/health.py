"""Readiness: named boolean checks the application flips as it comes up (or degrades)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["DEFAULT_CHECKS", "Readiness"]

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

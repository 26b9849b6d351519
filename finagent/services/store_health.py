"""Whether the job store commits: what the writer saw, for trading state, readiness and metrics.

The writer (:class:`~finagent.services.persistence.JobWriter`) stamps every commit (one
timestamp: the only cost on its hot path) and, when a batch hits a storage fault, holds it
and retries it. The store is *faulted* from the first held batch until every held batch has
committed: a read-only batch that commits meanwhile proves nothing about a full disk.
Listeners hear of each change (fault begins, fault ends) once, on the Trio thread.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from collections.abc import Callable

    from finagent.domain.errors import StorageUnavailableError

__all__ = ["StoreHealth"]

log = logging.getLogger(__name__)


@final
class StoreHealth:
    """The writer's view of the store: the last commit, and the fault it retries since when.

    Attributes:
        last_commit: Trio time of the last commit (None before the first).
        fault: the storage fault of the held batches, None while the store commits.
        since: epoch seconds (the writer's clock) when the current fault began.
    """

    def __init__(self) -> None:
        self.last_commit: float | None = None
        self.fault: StorageUnavailableError | None = None
        self.since: float | None = None
        self._held = 0
        self._listeners: list[Callable[[StorageUnavailableError | None], None]] = []

    def listen(self, listener: Callable[[StorageUnavailableError | None], None]) -> None:
        """Call ``listener(fault)`` when a fault begins and ``listener(None)`` when it ends."""
        self._listeners.append(listener)

    def since_text(self) -> str:
        """When the current fault began, as an ISO time (empty while the store commits)."""
        if self.since is None:
            return ""
        return datetime.fromtimestamp(self.since, UTC).isoformat(timespec="seconds")

    def hold(self, fault: StorageUnavailableError, now: float, requests: int) -> None:
        """A batch of ``requests`` hit ``fault`` and is held for retry; the first one logs."""
        self._held += 1
        if self.fault is not None:
            self.fault = fault  # the latest reason (a full disk may turn into a lock)
            return
        self.fault, self.since = fault, now
        log.warning(
            "job store cannot commit since %s: %s; trading degraded (no new entries), "
            "%d request(s) held and retried",
            self.since_text(), fault, requests,
        )  # fmt: skip
        self._notify(fault)

    def release(self, now: float, *, committed: bool) -> None:
        """A held batch left: it ``committed`` (at ``now``), or the writer stopped first."""
        self._held -= 1
        if committed:
            self.committed(now)

    def committed(self, now: float) -> None:
        """A batch committed while faulted: the fault ends once no batch is held any more.

        (After a writer restart nothing is held, so its first commit ends the fault.)
        """
        if self._held or self.fault is None:
            return
        fault, began = self.fault, self.since
        assert began is not None  # set together with fault
        self.fault = self.since = None
        log.warning(
            "job store commits again after %.1f s (%s); degraded mode over", now - began,
            fault.reason,
        )  # fmt: skip
        self._notify(None)

    def _notify(self, fault: StorageUnavailableError | None) -> None:
        for listener in self._listeners:
            listener(fault)

"""The Sender port: deliver one notification to one named destination."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from finagent.domain.notify import Level

__all__ = ["Sender"]


class Sender(Protocol):
    """Delivers notifications; each destination is a name, its address is the sender's secret."""

    def names(self) -> tuple[str, ...]:
        """The destinations this sender can reach, in settings order."""
        ...

    async def send(self, destination: str, title: str, body: str, level: Level) -> None:
        """Deliver one message to ``destination``, bounded by the sender's timeout.

        Raises:
            NotifyRejected: the destination refused it for good (a 4xx other than 408/429,
                an unknown name); no retry can fix it.
            NotifyError: it was not delivered now (5xx, timeout, connection refused); retry.
        """
        ...

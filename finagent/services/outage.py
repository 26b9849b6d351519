"""Calls that wait out an unreachable queue: an outage is neither a job failure nor a crash.

A ``QueueUnavailableError`` (Redis away) from a queue call does not burn a job's attempts or an
actor's restart budget: :func:`patiently` tries the call again, 0.1 s apart doubling up to 2 s,
until the queue answers or the caller is cancelled. The daemon logs the outage once (the
transport's listener in ``app/redis_backend.py``), so the tries themselves log at debug.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeVar

import trio

from finagent.domain.jobs import QueueUnavailableError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["RETRY_MAX_S", "RETRY_MIN_S", "patiently"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
RETRY_MIN_S = 0.1  #: the first wait before a call the unreachable queue refused is tried again
RETRY_MAX_S = 2.0  #: the longest wait between two tries (it doubles up to this)


async def patiently(call: Callable[[], Awaitable[_T]], what: str) -> _T:
    """``call()``, tried again while the queue is unreachable; ``what`` names it in debug logs."""
    delay = RETRY_MIN_S
    while True:
        try:
            return await call()
        except QueueUnavailableError as exc:
            log.debug("%s waits for the queue: %s", what, exc)
        await trio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)

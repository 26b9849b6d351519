"""Specifications of children and supervisors: plain frozen values, no behaviour."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from actors.actor import ActorContext

__all__ = ["Backoff", "ChildSpec", "Restart", "Strategy", "SupervisorSpec"]

M = TypeVar("M")


class Restart(enum.Enum):
    """When a child is restarted (Erlang/OTP restart types)."""

    PERMANENT = "permanent"  # always, also after a normal return
    TRANSIENT = "transient"  # only after an Exception (never after Cancelled/KeyboardInterrupt)
    TEMPORARY = "temporary"  # never, not even when a sibling's crash restarts a group


class Strategy(enum.Enum):
    """Which children restart when one of them exits (Erlang/OTP strategies)."""

    ONE_FOR_ONE = "one_for_one"  # only the one that exited
    ONE_FOR_ALL = "one_for_all"  # all children
    REST_FOR_ONE = "rest_for_one"  # the one that exited and those started after it


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential back-off with jitter between restarts of a child.

    The delay before the n-th recent restart is `min(max, base * 2**(n-1)) * (1 - jitter * u)`
    with `u` drawn in [0, 1) from the supervisor's `rng`; jitter only shortens, so `max` is a cap.
    """

    base: float = 0.1
    max: float = 5.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.base < 0 or self.max < 0 or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid back-off {self}")

    def delay(self, attempt: int, u: float) -> float:
        """Seconds to wait before restart number `attempt` (1-based), given `u` in [0, 1)."""
        capped = min(self.max, self.base * 2.0 ** (attempt - 1))
        return capped * (1.0 - self.jitter * u)


@dataclass(frozen=True, slots=True)
class ChildSpec(Generic[M]):
    """An actor child: its name (also its mailbox's), what to run, and how to restart it.

    `factory` is called with a fresh `ActorContext[M]` on every (re)start, e.g. `Planner(...).run`.
    The actor declares itself ready with `ctx.started()`; if it has not within `start_timeout`
    seconds, it is cancelled and that counts as a crash (`StartTimeoutError`).
    """

    name: str
    factory: Callable[[ActorContext[M]], Awaitable[None]]
    restart: Restart = Restart.PERMANENT
    shutdown_timeout: float = 5.0
    mailbox_size: int | float = 64
    start_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.shutdown_timeout < 0 or self.mailbox_size < 0 or self.start_timeout <= 0:
            raise ValueError(f"invalid child spec {self.name!r}")


@dataclass(frozen=True, slots=True)
class SupervisorSpec:
    """A supervisor: ordered children, strategy, restart intensity and back-off.

    More than `max_restarts` restarts within `max_seconds` make the supervisor stop its children
    and raise `SupervisorGaveUpError` to its parent. A `SupervisorSpec` can be a child of another
    one; `restart` and `shutdown_timeout` then apply to it as a child.
    """

    name: str
    children: Sequence[ChildSpec[Any] | SupervisorSpec] = field(default_factory=tuple)
    strategy: Strategy = Strategy.ONE_FOR_ONE
    max_restarts: int = 3
    max_seconds: float = 5.0
    backoff: Backoff = field(default_factory=Backoff)
    restart: Restart = Restart.PERMANENT
    shutdown_timeout: float = math.inf

    def __post_init__(self) -> None:
        if self.max_restarts < 0 or self.max_seconds <= 0 or self.shutdown_timeout < 0:
            raise ValueError(f"invalid supervisor spec {self.name!r}")

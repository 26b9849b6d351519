"""The one control path: ask the daemon for a trading state and learn whether it obeyed.

``halt``, ``halt --flatten`` and ``resume`` (and the dashboard later) call :func:`request_state`.
It records the request in the control row (a short transaction: the one write outside the
daemon's single writer), then waits for the running daemon's :class:`Applied` record answering
that very request (``requested_at`` equals the row's ``updated_at``). A missing database is
never created: the operator typed the wrong path, and a new file no daemon reads would make
the kill switch look obeyed while the real daemon trades on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from finagent.adapters.sqlite.dbfile import lock_holder
from finagent.adapters.sqlite.state import read_applied, set_control
from finagent.domain.errors import StorageError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from finagent.ports.trading import Applied, Control

__all__ = ["ACK_WAIT_S", "ControlResult", "MissingDatabaseError", "describe", "request_state"]

#: How long a command waits for the daemon's acknowledgement; it polls the row every second.
ACK_WAIT_S = 5.0
_POLL_S = 0.05


class MissingDatabaseError(StorageError):
    """The database file does not exist: the request was not recorded anywhere."""


@dataclass(frozen=True, slots=True)
class ControlResult:
    """What became of a request: stored in ``path``; ``applied`` by daemon ``pid``, or not.

    ``pid`` is the running daemon's (None: no daemon holds the database's lock). ``applied`` is
    None when no daemon answered within the wait.
    """

    path: Path
    control: Control
    pid: int | None
    applied: Applied | None


def request_state(
    path: Path,
    state: str,
    *,
    flatten: bool = False,
    wait_s: float = ACK_WAIT_S,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ControlResult:
    """Record ``state`` (and a flatten request) and wait up to ``wait_s`` for the daemon's answer.

    Raises:
        MissingDatabaseError: ``path`` does not exist; nothing was written or created.
        StorageError: the file cannot be used (not a finagent database, read-only...).
    """
    if not path.exists():  # a directory or a foreign file: set_control names what it is
        raise MissingDatabaseError(
            f"{path}: no such database (check --db / db_path); nothing was changed"
        )
    control = set_control(path, state, flatten=flatten, now=wall(), must_exist=True)
    holder = lock_holder(path)
    if holder is None:
        return ControlResult(path, control, None, None)
    deadline = time.monotonic() + wait_s
    while True:
        applied = read_applied(path)
        if applied is not None and applied.requested_at == control.updated_at:
            return ControlResult(path, control, applied.pid, applied)
        if time.monotonic() >= deadline:
            return ControlResult(path, control, holder.pid, None)
        sleep(_POLL_S)


def describe(
    result: ControlResult, state: str, *, flatten: bool, display_tz: str, wait_s: float
) -> tuple[bool, str]:
    """One line on what became of a request, and whether a daemon acknowledged it.

    The CLI prints it (exit 3 when not acknowledged); the dashboard shows it under the button.
    """
    import pendulum

    asked = state + (f", flatten request {result.control.flatten_seq}" if flatten else "")
    where = result.path.resolve()
    if result.pid is None:
        return False, f"{asked} in {where}; no daemon is running (the next start applies it)"
    if result.applied is None:
        return False, (
            f"{asked} in {where}; daemon pid {result.pid} did not acknowledge it"
            f" within {wait_s:g} s (check its log)"
        )
    a = result.applied
    at = pendulum.from_timestamp(a.applied_at).in_tz(display_tz)
    held = f" but trades {a.state} ({a.held})" if a.state != state else ""
    return True, f"{asked}; daemon pid {a.pid} applied it at {at.strftime('%H:%M:%S %Z')}{held}"

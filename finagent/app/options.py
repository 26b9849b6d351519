"""Per-run choices that are not settings: the CLI's one-offs and the simulator's knobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    import httpx

    from finagent.adapters.clocks import VirtualClock
    from finagent.app.parts import DaemonProbe

__all__ = ["DaemonOptions"]


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """Per-run choices that are not settings (CLI one-offs and the simulator's knobs).

    ``clock``: a virtual clock to run on (simulate); None anchors the sim timeline in the DB.
    ``inline``: SQLite on the Trio thread (virtual time, trio #456); no HTTP server.
    ``crash_rate``: seeded random service crashes per job (simulate --crash-rate).
    ``probe``: filled with the running parts once the tree is up (simulate's report).
    ``services``: only these stages (None: every one); ``scheduler``: False for a worker.
    ``alpaca_transport``: the ``httpx`` transport under the Alpaca clients (None: the
    network). A run in virtual time serves Alpaca in-process through it, since a real socket
    would let the autojump clock skip ahead while a request is in flight.
    ``beat_s``: Trio seconds (virtual in a simulation) between two passes of the daemon's
    watch loops: the event-loop watchdog, the kill-switch poll, the database-file watch and
    the live checks; the queue gauges (15 s) and the heartbeat (30 s) never run more often.
    A backtest widens it (no operator acts on its throwaway database and no wall clock is
    watched), which takes most of a session's idle wake-ups away.
    """

    at_overrides: Sequence[str] = ()
    clock: VirtualClock | None = None
    inline: bool = False
    crash_rate: float = 0.0
    probe: DaemonProbe | None = None
    services: tuple[str, ...] | None = None
    scheduler: bool = True
    alpaca_transport: httpx.AsyncBaseTransport | None = None
    beat_s: float = 1.0

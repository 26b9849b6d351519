"""``up``'s guard over the simulated timeline: flags it would ignore are refused instead.

The daemon's clock is anchored on its first start (in the database, or in Redis with
``queue_backend: redis``), so a restart continues the same timeline. A ``sim.speed`` or
``sim.start`` given on the command line or in the environment that differs from the anchored
timeline would be ignored; ``up`` refuses it and names ``--reset-timeline``, which drops the
anchor so the new values apply. Values from the settings file yield to the anchor silently:
they are the standing configuration, not a one-off request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from finagent.app.timeline import stored_anchor
from finagent.cli.common import die

if TYPE_CHECKING:
    from finagent.settings import LoadedSettings, Settings

__all__ = ["check_timeline"]


def check_timeline(loaded: LoadedSettings, *, reset: bool) -> None:
    """Drop the anchored timeline (``reset``), or refuse one-off values it would override.

    Raises:
        SystemExit: 2, with one line naming the values and the ``--reset-timeline`` hint.
        StorageError, QueueUnavailableError: the anchor's store cannot be read.
    """
    settings = loaded.settings
    stored = stored_anchor(settings, reset=reset)
    if stored is None:
        return
    _, sim_start, speed = stored
    sim = settings.sim
    conflicts = []
    if _one_off(loaded, "sim.speed") and sim.speed != speed:
        conflicts.append(f"sim.speed {sim.speed:g} ({loaded.sources['sim.speed']})")
    start = sim.start
    if (
        _one_off(loaded, "sim.start")
        and start is not None
        and abs(datetime.fromisoformat(start).timestamp() - sim_start) > 1e-3
    ):
        conflicts.append(f"sim.start {start} ({loaded.sources['sim.start']})")
    if conflicts:
        anchored = datetime.fromtimestamp(sim_start, UTC).isoformat(timespec="seconds")
        die(
            f"{_where(settings)} already anchors the sim timeline (from {anchored} at"
            f" {speed:g}x), so {' and '.join(conflicts)} would be ignored;"
            " add --reset-timeline to start a new timeline"
        )


def _one_off(loaded: LoadedSettings, key: str) -> bool:
    source = loaded.sources.get(key, "default")
    return source == "command line" or source.startswith("env ")


def _where(settings: Settings) -> str:
    return "redis" if settings.queue_backend == "redis" else str(settings.db_path)

"""The one assembly: builds adapters and the supervision tree from settings.

The only package that knows concrete adapters (with ``adapters/`` itself); the CLI reaches
them through it. ``daemon`` runs ``finagent up`` and ``finagent worker``, ``parts`` opens the
store, queue, market, broker and clock and builds the actors, ``alpaca`` and ``redis_backend``
assemble those technologies, ``simulate`` replays a session in virtual time.
"""

from finagent.app.daemon import (
    KNOWN_JOB_TYPES,
    DaemonOptions,
    DaemonProbe,
    StartupError,
    StoppedSafely,
    run_daemon,
    run_daemon_blocking,
    run_worker_blocking,
    schedule_values,
    validate,
)

__all__ = [
    "KNOWN_JOB_TYPES",
    "DaemonOptions",
    "DaemonProbe",
    "StartupError",
    "StoppedSafely",
    "run_daemon",
    "run_daemon_blocking",
    "run_worker_blocking",
    "schedule_values",
    "validate",
]

"""``finagent dashboard``: serve the Streamlit dashboard (the ``dashboard`` extra).

Without the extra installed it says how to install it (one line, exit 2). A host that is not a
loopback address needs ``FINAGENT_DASHBOARD__PASSWORD``: the dashboard can halt trading, so it
is never served to a network without one.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from finagent.cli.common import die, load, nested

__all__ = ["INSTALL_HINT", "dashboard", "is_loopback"]

INSTALL_HINT = "the dashboard needs its extra: pip install 'finagent[dashboard]'"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only reaches this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost may resolve anywhere
        return False


def dashboard(
    *,
    host: Annotated[str | None, Parameter(help="address to listen on (dashboard.host)")] = None,
    port: Annotated[int | None, Parameter(help="port (dashboard.port)")] = None,
    db: Annotated[Path | None, Parameter(help="SQLite database path (db_path)")] = None,
    config: Annotated[Path | None, Parameter(name="--config", help="settings file")] = None,
) -> None:
    """Serve the dashboard until Ctrl-C: today's trading, history, queue, schedule, health."""
    overrides = nested(
        {"db_path": str(db) if db else None, "dashboard.host": host, "dashboard.port": port}
    )
    loaded = load(config, overrides)
    settings = loaded.settings.dashboard
    try:
        import streamlit  # noqa: F401 - only whether the extra is installed
    except ImportError:
        die(INSTALL_HINT)
    if not is_loopback(settings.host) and settings.password is None:
        die(
            f"--host {settings.host} is not a loopback address: set FINAGENT_DASHBOARD__PASSWORD"
            " (the dashboard can halt trading)"
        )
    from finagent.dashboard.server import Launch, serve

    # The page script runs in this process: it loads the same file and flags (paths made
    # absolute, so a working directory Streamlit changes cannot move them).
    config_file = Path(loaded.config_file).resolve() if loaded.config_file else None
    db_path = str(loaded.settings.db_path.resolve())
    launch = Launch(config_file, {**overrides, "db_path": db_path})
    print(f"finagent dashboard on http://{settings.host}:{settings.port}/ (Ctrl-C stops it)")
    serve(settings.host, settings.port, launch)

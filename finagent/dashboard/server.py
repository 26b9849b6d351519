"""Start Streamlit's server on the dashboard script, in this process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["SCRIPT", "Launch", "launched", "serve"]

#: the script Streamlit runs on every page load and refresh
SCRIPT = Path(__file__).with_name("streamlit_app.py")


@dataclass(frozen=True, slots=True)
class Launch:
    """The settings ``finagent dashboard`` was started with: its file and its flags."""

    config: Path | None
    overrides: Mapping[str, Any]


_launch: Launch | None = None


def launched() -> Launch | None:
    """What ``serve`` was started with (None: the page runs outside it, e.g. under AppTest)."""
    return _launch


def serve(host: str, port: int, launch: Launch | None = None) -> None:
    """Serve the dashboard on ``host:port`` until SIGINT/SIGTERM (Streamlit's own handlers).

    Streamlit runs the page script in this process, so the script reads ``launch`` directly.
    """
    global _launch
    _launch = launch
    from streamlit.web import bootstrap

    flags: dict[str, object] = {
        "server_address": host,
        "server_port": port,
        "server_headless": True,  # never open a browser on the server
        "server_fileWatcherType": "none",  # shipped code: nothing to hot-reload
        "server_runOnSave": False,
        "browser_gatherUsageStats": False,  # no telemetry from a trading host
        "global_developmentMode": False,
        "client_toolbarMode": "viewer",
        "theme_base": "light",
    }
    bootstrap.load_config_options(flag_options=flags)
    bootstrap.run(str(SCRIPT), False, [], flags)

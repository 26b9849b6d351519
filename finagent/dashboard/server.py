"""Start Streamlit's server on the dashboard script, in this process."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCRIPT", "serve"]

#: the script Streamlit runs on every page load and refresh
SCRIPT = Path(__file__).with_name("streamlit_app.py")


def serve(host: str, port: int) -> None:
    """Serve the dashboard on ``host:port`` until SIGINT/SIGTERM (Streamlit's own handlers)."""
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

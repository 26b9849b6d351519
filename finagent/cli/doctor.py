"""``finagent doctor``: can this configuration trade with Alpaca? One line per check.

The checks live in :mod:`finagent.app.doctor`; this command loads the settings and exits 1
if any check failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cyclopts import App, Parameter

from finagent.cli.common import load

__all__ = ["doctor_app", "doctor_command"]

doctor_app = App(name="doctor", help="Check Alpaca connectivity, keys, clock and calendar.")

ConfigOpt = Annotated[
    Path | None,
    Parameter(name="--config", help="settings file (default: $FINAGENT_CONFIG, ./settings.yaml)"),
]
JsonOpt = Annotated[bool, Parameter(name="--json", help="print one JSON object, not lines")]


@doctor_app.default
def doctor_command(*, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Check what the configured Alpaca adapters need; exit 1 if any check fails."""
    from finagent.app.doctor import doctor

    raise SystemExit(doctor(load(config).settings, as_json=as_json))

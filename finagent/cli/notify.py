"""``finagent notify test [--to NAME]``: a test message to each destination, and how it went."""

from __future__ import annotations

import logging
from pathlib import Path  # noqa: TC003 - cyclopts resolves annotations at run time
from typing import Annotated

import trio
from cyclopts import App, Parameter

from finagent.cli.common import EXIT_FAILED, die, load, one_line_errors

__all__ = ["notify_app"]

notify_app = App(name="notify", help="Notifications: send a test message to each destination.")


@notify_app.command
def test(
    *,
    to: Annotated[
        str | None, Parameter(help="only this destination (its name in settings)")
    ] = None,
    config: Annotated[Path | None, Parameter(name="--config", help="settings file")] = None,
) -> None:
    """Send a test message to every destination (or --to NAME): delivered, or the error."""
    from finagent.app.notify import send_test
    from finagent.domain.errors import ConfigError
    from finagent.observability import configure_logging

    settings = load(config).settings
    configure_logging("console", "ERROR")
    logging.getLogger("apprise").propagate = False  # its own lines stay out of the report
    if not settings.notify.destinations:
        die("no notification destination configured (notify.destinations)")
    with one_line_errors(ConfigError):
        results = trio.run(send_test, settings, to)
    for name, error in results.items():
        why = None if error is None else error.removeprefix(f"destination {name}: ")
        print(f"{name}: {'delivered' if why is None else f'failed: {why}'}")
    if any(error is not None for error in results.values()):
        raise SystemExit(EXIT_FAILED)

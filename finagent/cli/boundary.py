"""The command line's outer edge: what an operator did wrong is one line, never a traceback.

- A flag cyclopts cannot parse (unknown option, a value of the wrong type) prints
  ``finagent: error: <what>`` on stderr and exits 2, like the commands' own errors (``die``).
- A closed stdout (``finagent schedule | head``) ends the command quietly with
  :data:`~finagent.cli.common.EXIT_PIPE` instead of a ``BrokenPipeError`` traceback.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from finagent.cli.common import EXIT_PIPE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cyclopts import App, CycloptsError
    from rich.console import Console
    from rich.text import Text

__all__ = ["error_console", "format_parse_error", "run"]


def error_console() -> Console:
    """stderr without wrapping, markup or colour, so an error stays one plain line."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True, markup=False, highlight=False, color_system=None)


def format_parse_error(error: CycloptsError) -> Text:
    """cyclopts' parse error as ``finagent: error: <message>`` on one line."""
    from rich.text import Text

    return Text("finagent: error: " + " ".join(str(error).split()))


def run(app: App, argv: Sequence[str]) -> None:
    """Run the CLI on ``argv``; a reader that went away ends it with exit 141 and no output."""
    try:
        try:
            app(list(argv))
        finally:
            sys.stdout.flush()  # a closed pipe shows up here when the output was buffered
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's own flush at exit finds nothing to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(EXIT_PIPE) from None

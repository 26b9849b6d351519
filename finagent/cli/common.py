"""Shared CLI plumbing: loading settings and turning known errors into one-line exits."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from finagent.settings import ConfigError, LoadedSettings, load_settings

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

__all__ = ["EXIT_USAGE", "die", "load", "one_line_errors"]

EXIT_USAGE = 2


def die(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``finagent: error: message`` on stderr and exit with ``code``."""
    print(f"finagent: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def load(config: Path | None, overrides: Mapping[str, Any] | None = None) -> LoadedSettings:
    """Load settings or exit 2 with the one-line reason."""
    try:
        return load_settings(config, cli_overrides=overrides)
    except ConfigError as exc:
        die(str(exc))


@contextmanager
def one_line_errors(*kinds: type[Exception]) -> Iterator[None]:
    """Turn the given exception types into a one-line error and exit code 2.

    They may arrive bare or inside the ExceptionGroup a Trio nursery wraps them in.
    """
    try:
        yield
    except* kinds as group:
        die(str(_first_leaf(group)))


def _first_leaf(group: BaseExceptionGroup[Exception]) -> BaseException:
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def nested(dotted: Mapping[str, Any]) -> dict[str, Any]:
    """``{"metrics.port": 1}`` → ``{"metrics": {"port": 1}}``, skipping None values."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        if value is None:
            continue
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out

"""Shared CLI plumbing: loading settings and turning known errors into one-line exits."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from finagent.settings import ConfigError, LoadedSettings, load_settings

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

__all__ = [
    "EXIT_FAILED",
    "EXIT_FORCED",
    "EXIT_PIPE",
    "EXIT_STOPPED",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "daemon_errors",
    "die",
    "load",
    "one_line_errors",
]

# The exit codes, as docs/operating.md ("Exit codes") lists them.
EXIT_FAILED = 1  # a check failed (doctor), or the daemon stopped on an error it logged
EXIT_USAGE = 2  # the operator's input cannot work: a flag, a setting, a path, a port
EXIT_UNAVAILABLE = 3  # a service the daemon needs (Redis) did not answer at start: retry later
EXIT_STOPPED = 4  # a fault stopped the daemon after it stopped safely at the broker: needs you
EXIT_FORCED = 130  # 128 + SIGINT: a second SIGINT/SIGTERM forced the exit; a backtest interrupted
EXIT_PIPE = 141  # stdout was closed (`| head`): 128 + SIGPIPE, as other Unix tools report it


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
def one_line_errors(
    *kinds: type[Exception], code: int = EXIT_USAGE, hint: str = ""
) -> Iterator[None]:
    """Turn the given exception types into a one-line error (plus ``hint``) and exit ``code``.

    They may arrive bare or inside the ExceptionGroup a Trio nursery wraps them in.
    """
    try:
        yield
    except* kinds as group:
        die(" ".join(f"{_first_leaf(group)} {hint}".split()), code)


@contextmanager
def daemon_errors() -> Iterator[None]:
    """What stops ``up`` or ``worker``, as one line: settings, files, ports, Redis; a fault."""
    from finagent.app import StoppedSafely
    from finagent.domain.errors import ConfigError, StorageError
    from finagent.domain.jobs import QueueUnavailableError

    hint = "(check redis.url / FINAGENT_REDIS__URL and that Redis runs)"
    with (
        one_line_errors(StoppedSafely, code=EXIT_STOPPED),
        one_line_errors(ConfigError, StorageError),
        one_line_errors(QueueUnavailableError, code=EXIT_UNAVAILABLE, hint=hint),
    ):
        yield


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

"""Structured logs: one JSON object per line (or a console line), with context and no secrets.

Context flows through :mod:`contextvars`, so nobody threads ``job_id`` through call chains::

    with log_context(job_id=job.id, job_type=job.type, attempt=job.attempts):
        log.info("claimed")  # {"timestamp": ..., "level": "INFO", ..., "job_id": 7, ...}

Trio copies the context into every task it spawns and every worker thread it runs, so a
context set by a parent task is seen by its children.

Secrets: :func:`register_secret` adds a value (an API key from the env) that a filter on our
handler scrubs from the message, its arguments, extra fields and tracebacks before formatting.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, Final

from pythonjsonlogger.json import JsonFormatter

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "CONTEXT_FIELDS",
    "REDACTED",
    "ContextFilter",
    "RedactingFilter",
    "SecretRegistry",
    "configure_logging",
    "current_log_context",
    "log_context",
    "register_secret",
]

CONTEXT_FIELDS: Final = ("actor", "job_id", "job_type", "symbol", "attempt")
"""The context keys finagent sets; :func:`log_context` accepts others too."""

REDACTED: Final = "**********"

_context: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "finagent_log_context", default=MappingProxyType({})
)

# Attributes every LogRecord has; anything else on a record is context or ``extra=``.
_STANDARD_ATTRS: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` to every log record emitted inside the block (nested blocks merge)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def current_log_context() -> Mapping[str, object]:
    """The context fields in force for the calling task."""
    return _context.get()


class SecretRegistry:
    """Values that must never reach a log line, with their JSON-escaped forms."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        """Register ``value``; the empty string is ignored (it would match everywhere)."""
        if value:
            self._values.add(value)
            self._values.add(json.dumps(value)[1:-1])

    def scrub(self, text: str) -> str:
        """``text`` with every registered value replaced by :data:`REDACTED`."""
        # Longest first, so a secret that contains another is replaced whole.
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def __bool__(self) -> bool:
        return bool(self._values)


_SECRETS: Final = SecretRegistry()


def register_secret(value: str) -> None:
    """Scrub ``value`` from every log line from now on (process-wide)."""
    _SECRETS.add(value)


class ContextFilter(logging.Filter):
    """Copies the :func:`log_context` fields onto each record (``extra=`` wins on a clash)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach context; never drops a record."""
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


_EXC_FORMATTER: Final = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Scrubs registered secrets from a record's message, extras and tracebacks."""

    def __init__(self, secrets: SecretRegistry | None = None) -> None:
        super().__init__()
        self._secrets = _SECRETS if secrets is None else secrets

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if not self._secrets:
            return True
        scrub = self._secrets.scrub
        record.msg = scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            # Render the traceback now, scrubbed; formatters then use exc_text as it is.
            record.exc_text = _EXC_FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, scrub(value))
        return True


def _iso_utc(created: float) -> str:
    stamp = datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v
        for k, v in record.__dict__.items()
        if k not in _STANDARD_ATTRS and not k.startswith("_")
    }


class _JsonLines(JsonFormatter):
    """timestamp, level, logger, message first, then context and extras."""

    def __init__(self, secrets: SecretRegistry) -> None:
        super().__init__()
        self._secrets = secrets

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        log_data["timestamp"] = _iso_utc(record.created)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data.update(_extras(record))
        log_data.update(message_dict)

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object, secrets scrubbed once more after rendering."""
        return self._secrets.scrub(str(super().format(record)))


class _ConsoleLines(logging.Formatter):
    """``2024-05-01T13:30:00.000Z INFO    finagent.scanner: msg job_id=7 job_type=scan``."""

    def __init__(self, secrets: SecretRegistry) -> None:
        super().__init__("%(levelname)-7s %(name)s: %(message)s")
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        """A human line with the context as key=value pairs."""
        line = f"{_iso_utc(record.created)} {super().format(record)}"
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        if extras:
            head, sep, tail = line.partition("\n")
            line = f"{head} {extras}{sep}{tail}"
        return self._secrets.scrub(line)


class _FinagentHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in stubs
    """Marks the handler :func:`configure_logging` owns, so a second call replaces it."""


def configure_logging(format: str, level: str, stream: IO[str] | None = None) -> None:
    """Send every log record to ``stream`` (stdout by default) as JSON or console lines.

    Args:
        format: ``json``, ``console`` or ``auto`` (console on a TTY, JSON otherwise).
        level: a logging level name such as ``INFO``.
        stream: where lines go; resolved at call time so test captures work.

    Raises:
        ValueError: an unknown format or level.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    out = sys.stdout if stream is None else stream
    if format == "auto":
        format = "console" if out.isatty() else "json"
    formatter: logging.Formatter
    if format == "json":
        formatter = _JsonLines(_SECRETS)
    elif format == "console":
        formatter = _ConsoleLines(_SECRETS)
    else:
        raise ValueError(f"unknown log format {format!r}; use auto, console or json")
    handler = _FinagentHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter(_SECRETS))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _FinagentHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)

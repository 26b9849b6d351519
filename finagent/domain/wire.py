"""Readers for the JSON fields of job payloads: each raises :class:`PayloadError` on a misfit.

A payload comes from the database or Redis, so it is untrusted: a field that is missing or of
the wrong type is a :class:`PayloadError`, which sends the job to dead (retrying cannot fix it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from finagent.domain.errors import FinagentError

__all__ = [
    "JsonObject",
    "PayloadError",
    "read",
    "read_decimal",
    "read_list",
    "read_time",
]

#: A decoded JSON object, as a job payload is stored.
JsonObject = Mapping[str, Any]


class PayloadError(FinagentError, ValueError):
    """A job payload that does not fit its job type; the job goes to dead, not retried."""


def read(obj: JsonObject, name: str, kind: type | tuple[type, ...]) -> Any:
    """The field ``name`` of ``obj``, which must be an instance of ``kind`` (a bool is no int).

    Raises:
        PayloadError: ``obj`` is no mapping, or the field is missing or of another type.
    """
    if not isinstance(obj, Mapping) or name not in obj:
        raise PayloadError(f"payload: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PayloadError(f"payload: field {name!r} has the wrong type")
    return value


def read_time(obj: JsonObject, name: str) -> datetime:
    """A time-zone-aware ISO time field."""
    text = read(obj, name, str)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"payload: field {name!r} is not an ISO time") from None
    if value.tzinfo is None:
        raise PayloadError(f"payload: field {name!r} has no time zone")
    return value


def read_decimal(obj: JsonObject, name: str) -> Decimal:
    """A decimal carried as a string (never a JSON float: it would lose cents)."""
    text = read(obj, name, str)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise PayloadError(f"payload: field {name!r} is not a decimal") from None


def read_list(obj: JsonObject, name: str) -> Sequence[Any]:
    """A JSON array field."""
    return read(obj, name, list)  # type: ignore[no-any-return]  # checked by read

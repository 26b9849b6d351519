"""Alpaca's 4xx order refusals as typed errors: by HTTP status and Alpaca's numeric ``code``.

Alpaca error bodies are ``{"code": int, "message": str}``. The codes below are the ones seen
in Alpaca error bodies; Alpaca's API reference does not list them and alpaca-py only exposes
``APIError.code`` (docs/alpaca.md, "Error codes", says where each comes from):

- ``40310100`` (403): pattern-day-trader protection. Specific: the code decides.
- ``40310000`` (403): a generic "forbidden" shared by insufficient buying power, accounts not
  allowed to trade, wash-trade refusals and more; the message tells buying power apart.
- ``40010001`` (422): a generic validation failure, the duplicate ``client_order_id`` among
  many; the message tells the duplicate apart.

The message alone decides only when the body has no code. A refusal nothing here recognises
is an ``OrderRejected`` carrying its status, code and message: never retried, never success.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from finagent.domain.errors import (
    BrokerError,
    InsufficientBuyingPower,
    OrderRejected,
    PatternDayTrader,
)

if TYPE_CHECKING:
    from finagent.adapters.alpaca.http import AlpacaApiError

__all__ = [
    "CODE_FORBIDDEN",
    "CODE_PDT",
    "CODE_VALIDATION",
    "describe",
    "is_duplicate_client_id",
    "rejection",
]

CODE_PDT: Final = 40310100
CODE_FORBIDDEN: Final = 40310000
CODE_VALIDATION: Final = 40010001


def describe(err: AlpacaApiError) -> str:
    """``HTTP 403 (code 40310000): message``; the code is left out when the body had none."""
    code = f" (code {err.code})" if err.code is not None else ""
    return f"HTTP {err.status}{code}: {err.message}"


def is_duplicate_client_id(err: AlpacaApiError) -> bool:
    """A 422 saying this ``client_order_id`` is taken: the order exists at Alpaca."""
    text = err.message.lower()
    return err.status == 422 and err.code in (CODE_VALIDATION, None) and "unique" in text


def rejection(err: AlpacaApiError, client_order_id: str) -> BrokerError:
    """The typed refusal of a submit (any 4xx but 401 and a duplicate)."""
    text = err.message.lower()
    if err.status == 403 and err.code == CODE_PDT:
        return PatternDayTrader(err.message, client_order_id)
    if err.status == 403 and err.code in (CODE_FORBIDDEN, None) and "buying power" in text:
        return InsufficientBuyingPower(err.message, client_order_id)
    if err.status == 403 and err.code is None and ("pattern day" in text or "pdt" in text):
        return PatternDayTrader(err.message, client_order_id)
    return OrderRejected(describe(err), client_order_id)

"""Decimal money and price helpers: one rounding policy for the whole domain."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

__all__ = ["CENT", "TICK", "ZERO", "bps", "dec", "money", "price", "shares"]

ZERO = Decimal(0)
CENT = Decimal("0.01")
TICK = Decimal("0.01")
_SUB_DOLLAR_TICK = Decimal("0.0001")


def dec(value: Decimal | int | float | str) -> Decimal:
    """Convert to Decimal exactly as written: floats go through ``str`` (0.1 stays 0.1)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def money(value: Decimal | int | float | str) -> Decimal:
    """Round an amount to cents, banker's rounding (no drift over many trades)."""
    return dec(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


def price(value: Decimal | int | float | str) -> Decimal:
    """Round a price to its tick: $0.01 at or above $1, $0.0001 below (Reg NMS rule 612)."""
    amount = dec(value)
    tick = TICK if abs(amount) >= 1 else _SUB_DOLLAR_TICK
    return amount.quantize(tick, rounding=ROUND_HALF_EVEN)


def shares(value: Decimal) -> int:
    """Whole shares, rounded toward zero: sizing never rounds up into extra risk."""
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def bps(value: Decimal | int | float | str) -> Decimal:
    """Basis points as a fraction: ``bps(2) == Decimal('0.0002')``."""
    return dec(value) / Decimal(10_000)

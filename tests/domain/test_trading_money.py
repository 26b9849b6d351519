"""Money helpers: exact conversion, cent rounding, price ticks, share truncation."""

from decimal import Decimal

from finagent.domain.money import bps, dec, money, price, shares


def test_floats_convert_as_written_not_as_binary() -> None:
    assert dec(0.1) == Decimal("0.1")
    assert dec(3) == Decimal(3)
    assert dec("2.50") == Decimal("2.50")
    assert dec(Decimal("1.1")) == Decimal("1.1")


def test_money_rounds_half_to_even_cents() -> None:
    assert money("1.005") == Decimal("1.00")
    assert money("1.015") == Decimal("1.02")


def test_prices_use_a_cent_tick_above_a_dollar_and_hundredths_of_a_cent_below() -> None:
    assert price("12.345") == Decimal("12.34")
    assert price("0.12345") == Decimal("0.1234")


def test_shares_truncate_toward_zero() -> None:
    assert shares(Decimal("99.99")) == 99
    assert shares(Decimal("-1.5")) == -1


def test_bps_is_a_fraction() -> None:
    assert bps(2) == Decimal("0.0002")

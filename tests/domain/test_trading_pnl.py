"""P&L arithmetic: average cost, realized and unrealized, round trips, the daily summary."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from finagent.domain.market import Side
from finagent.domain.orders import Fill, FillKind, OrderSide, Position
from finagent.domain.pnl import (
    RoundTrip,
    apply_fill,
    positions_from,
    realized_pnl,
    round_trips,
    unrealized_pnl,
)
from finagent.domain.report import max_drawdown, summarize
from tests.domain.trading_helpers import SESSION, D

T0 = SESSION.open


def fill(
    side: OrderSide, qty: int, px: str, minute: int = 0, symbol: str = "ABC", fee: str = "0"
) -> Fill:
    return Fill(
        "c", symbol, side, qty, D(px), T0 + timedelta(minutes=minute), FillKind.ENTRY, D(fee)
    )


BUY, SELL = OrderSide.BUY, OrderSide.SELL


def test_adding_to_a_position_averages_its_cost() -> None:
    pos, gained = apply_fill(Position("ABC", 100, D(10)), fill(BUY, 100, "11"))
    assert pos == Position("ABC", 200, D("10.5"))
    assert gained == 0


def test_a_partial_close_realizes_and_keeps_the_average() -> None:
    pos, gained = apply_fill(Position("ABC", 100, D(10)), fill(SELL, 40, "12"))
    assert pos == Position("ABC", 60, D(10))
    assert gained == D(80)


def test_a_full_close_goes_flat() -> None:
    assert apply_fill(Position("ABC", -100, D(10)), fill(BUY, 100, "9")) == (None, D(100))


def test_an_oversized_close_flips_the_position_at_the_fill_price() -> None:
    pos, gained = apply_fill(Position("ABC", 100, D(10)), fill(SELL, 150, "9"))
    assert pos == Position("ABC", -50, D(9))
    assert gained == D(-100)


def test_realized_pnl_subtracts_every_commission() -> None:
    fills = [fill(BUY, 100, "10", fee="1"), fill(SELL, 100, "10.50", 5, fee="1")]
    assert realized_pnl(fills) == D(48)
    assert positions_from(fills) == {}


def test_unrealized_pnl_uses_last_prices_and_zero_without_one() -> None:
    held = [Position("ABC", 100, D(10)), Position("XYZ", -10, D(50))]
    assert unrealized_pnl(held, {"ABC": D(11)}) == D(100)


def test_round_trips_span_flat_to_flat_and_split_on_a_flip() -> None:
    fills = [
        fill(BUY, 100, "10", 0, fee="1"),
        fill(BUY, 100, "11", 1),
        fill(SELL, 250, "12", 2, fee="2"),  # closes 200 (+300), opens short 50 at 12
        fill(BUY, 50, "13", 3),  # closes the short (-50)
        fill(BUY, 10, "5", 4, symbol="XYZ"),  # still open
    ]
    trips = round_trips(fills)
    assert [(t.side, t.quantity, t.gross, t.commission, t.net) for t in trips] == [
        (Side.LONG, 200, D(300), D(3), D(297)),
        (Side.SHORT, 50, D(-50), D(0), D(-50)),
    ]
    assert trips[0].opened_at == T0 and trips[0].closed_at == T0 + timedelta(minutes=2)
    assert trips[1].opened_at == T0 + timedelta(minutes=2)
    assert positions_from(fills) == {"XYZ": Position("XYZ", 10, D(5))}


def trip(net: str, minute: int, fee: str = "0") -> RoundTrip:
    at = T0 + timedelta(minutes=minute)
    return RoundTrip("ABC", Side.LONG, 1, at, at, D(net) + D(fee), D(fee))


def test_daily_summary_counts_hits_pnl_and_drawdown() -> None:
    summary = summarize(
        date(2026, 3, 10), [trip("100", 1, "1"), trip("-150", 2), trip("30", 3), trip("0", 4)]
    )
    assert (summary.trades, summary.wins, summary.losses) == (4, 2, 1)
    assert summary.hit_rate == D("0.5000")
    assert summary.net_pnl == D("-20.00")
    assert summary.gross_pnl == D("-19.00")
    assert summary.commission == D("1.00")
    assert summary.max_drawdown == D("150.00")
    assert (summary.best, summary.worst) == (D("100.00"), D("-150.00"))


def test_an_empty_day_has_no_hit_rate() -> None:
    summary = summarize(date(2026, 3, 10), [])
    assert summary.trades == 0 and summary.hit_rate is None and summary.best is None
    assert summary.max_drawdown == 0


def test_drawdown_starts_from_zero() -> None:
    assert max_drawdown([D(-5), D(10), D(-3)]) == D(5)


prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000"), places=2)
trades = st.lists(
    st.tuples(st.sampled_from([BUY, SELL]), st.integers(1, 1000), prices,
              st.decimals(min_value=0, max_value=5, places=2)),
    min_size=1, max_size=30,
)  # fmt: skip


@given(trades, prices)
def test_realized_plus_unrealized_equals_cash_flow_plus_market_value(
    steps: list[tuple[OrderSide, int, Decimal, Decimal]], mark: Decimal
) -> None:
    fills = [Fill("c", "ABC", s, q, p, T0, FillKind.ENTRY, f) for s, q, p, f in steps]
    cash = sum((-f.signed_quantity * f.price - f.commission for f in fills), Decimal(0))
    book = positions_from(fills)
    value = sum((p.quantity * mark for p in book.values()), Decimal(0))
    total = realized_pnl(fills) + unrealized_pnl(book.values(), {"ABC": mark})
    assert abs(total - (cash + value)) < Decimal("1e-15")


@given(trades)
def test_round_trips_plus_open_position_account_for_every_realized_dollar(
    steps: list[tuple[OrderSide, int, Decimal, Decimal]],
) -> None:
    fills = [Fill("c", "ABC", s, q, p, T0, FillKind.ENTRY, f) for s, q, p, f in steps]
    trips = round_trips(fills)
    if not positions_from(fills):
        assert abs(sum((t.net for t in trips), Decimal(0)) - realized_pnl(fills)) < Decimal("1e-15")
    assert all(t.quantity > 0 for t in trips)

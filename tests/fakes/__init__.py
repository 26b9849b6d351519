"""In-memory fakes of the trading ports. They record what they were asked; tests script them.

``FakeMarket`` implements MarketData and News; ``FakeBroker`` implements Broker (fills only
when a test says so); ``FakeClock`` implements Clock with a settable ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from finagent.domain.errors import InsufficientBuyingPower, OrderNotFound
from finagent.domain.market import Bar, Headline, Snapshot
from finagent.domain.orders import (
    Account,
    BracketOrder,
    BrokerOrder,
    CloseResult,
    Fill,
    FillKind,
    OrderSide,
    OrderStatus,
    Position,
)
from finagent.domain.pnl import positions_from, realized_pnl

__all__ = ["FakeBroker", "FakeClock", "FakeMarket"]


class FakeClock:
    """A Clock whose ``now`` moves only when a test calls ``advance`` or ``set``."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self.sleeps: list[datetime] = []

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    async def sleep_until(self, when: datetime) -> None:
        self.sleeps.append(when)
        self._now = max(self._now, when)

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, now: datetime) -> None:
        self._now = now


class FakeMarket:
    """Scripted MarketData and News: add snapshots, bars and headlines; every call is recorded."""

    def __init__(self, symbols: Sequence[str] = ()) -> None:
        self.symbols = list(symbols)
        self.snapshot_by_symbol: dict[str, Snapshot] = {}
        self.bars_by_symbol: dict[str, list[Bar]] = {}
        self.news: list[Headline] = []
        self.prices: dict[str, Decimal] = {}
        self.calls: list[tuple[str, object]] = []

    def add_bar(self, bar: Bar) -> None:
        self.bars_by_symbol.setdefault(bar.symbol, []).append(bar)
        self.bars_by_symbol[bar.symbol].sort(key=lambda b: b.start)

    async def universe(self, session_date: date) -> Sequence[str]:
        self.calls.append(("universe", session_date))
        return list(self.symbols)

    async def snapshots(self, symbols: Sequence[str], at: datetime) -> Sequence[Snapshot]:
        self.calls.append(("snapshots", (tuple(symbols), at)))
        return [self.snapshot_by_symbol[s] for s in symbols if s in self.snapshot_by_symbol]

    async def minute_bars(self, symbol: str, start: datetime, end: datetime) -> Sequence[Bar]:
        self.calls.append(("minute_bars", (symbol, start, end)))
        return [b for b in self.bars_by_symbol.get(symbol, []) if start <= b.start and b.end <= end]

    async def last_prices(self, symbols: Sequence[str], at: datetime) -> Mapping[str, Decimal]:
        self.calls.append(("last_prices", (tuple(symbols), at)))
        found: dict[str, Decimal] = {}
        for symbol in symbols:
            bars = [b for b in self.bars_by_symbol.get(symbol, []) if b.end <= at]
            if bars:
                found[symbol] = bars[-1].close
            elif symbol in self.prices:
                found[symbol] = self.prices[symbol]
        return found

    async def headlines(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Sequence[Headline]:
        self.calls.append(("headlines", (tuple(symbols), start, end)))
        wanted = set(symbols)
        found = [h for h in self.news if wanted & set(h.symbols) and start <= h.at < end]
        return sorted(found, key=lambda h: (h.at, h.id))


class FakeBroker:
    """An in-memory Broker. Orders stay pending until ``fill_entry``; closes fill at ``prices``."""

    def __init__(self, clock: FakeClock, equity: Decimal = Decimal(100_000)) -> None:
        self.clock = clock
        self.starting = equity
        self.orders: dict[str, BrokerOrder] = {}
        self.fills: list[Fill] = []
        self.prices: dict[str, Decimal] = {}
        self.submitted: list[BracketOrder] = []
        self.canceled: list[str] = []
        self.closed: list[str] = []

    # ---- test controls ---------------------------------------------------------------------
    def fill_entry(self, client_order_id: str, price: Decimal | None = None) -> Fill:
        order = self.orders[client_order_id]
        px = price if price is not None else order.order.entry
        now = self.clock.now()
        fill = Fill(
            client_order_id, order.symbol, OrderSide.entering(order.order.side),
            order.order.quantity, px, now, FillKind.ENTRY,
        )  # fmt: skip
        self.fills.append(fill)
        self.orders[client_order_id] = replace(
            order, status=OrderStatus.FILLED, filled_quantity=fill.quantity,
            filled_price=px, filled_at=now,
        )  # fmt: skip
        self.prices.setdefault(order.symbol, px)
        return fill

    # ---- OrderEntry ----------------------------------------------------------------------
    async def submit(self, order: BracketOrder) -> BrokerOrder:
        self.submitted.append(order)
        existing = self.orders.get(order.client_order_id)
        if existing is not None:
            return existing
        if order.notional > (await self.account()).buying_power:
            raise InsufficientBuyingPower("not enough buying power", order.client_order_id)
        placed = BrokerOrder(
            order, f"fake-{len(self.orders) + 1}", OrderStatus.PENDING, self.clock.now()
        )
        self.orders[order.client_order_id] = placed
        return placed

    async def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        return self.orders.get(client_order_id)

    async def cancel(self, client_order_id: str) -> BrokerOrder:
        self.canceled.append(client_order_id)
        order = self.orders.get(client_order_id)
        if order is None:
            raise OrderNotFound(client_order_id)
        if order.status is OrderStatus.PENDING:
            order = replace(order, status=OrderStatus.CANCELED, closed_at=self.clock.now())
            self.orders[client_order_id] = order
        return order

    async def open_orders(self) -> Sequence[BrokerOrder]:
        return [o for o in self.orders.values() if o.status.is_open]

    async def orders_since(self, since: datetime) -> Sequence[BrokerOrder]:
        return [o for o in self.orders.values() if o.submitted_at >= since]

    # ---- AccountView -----------------------------------------------------------------------
    async def positions(self) -> Sequence[Position]:
        book = positions_from(self.fills)
        return [book[s] for s in sorted(book)]

    async def close(self, symbol: str) -> CloseResult:
        self.closed.append(symbol)
        working = [o for o in self.orders.values() if o.symbol == symbol and o.status.is_open]
        if not working:
            return CloseResult(symbol, ok=False, error="no open position or order")
        result = CloseResult(symbol, ok=True)
        now = self.clock.now()
        for order in working:
            if order.status is OrderStatus.PENDING:
                self.orders[order.client_order_id] = replace(
                    order, status=OrderStatus.CANCELED, closed_at=now
                )
                continue
            px = self.prices.get(symbol, order.filled_price or order.order.entry)
            fill = Fill(
                order.client_order_id, symbol, OrderSide.exiting(order.order.side),
                order.order.quantity, px, now, FillKind.CLOSE,
            )  # fmt: skip
            self.fills.append(fill)
            self.orders[order.client_order_id] = replace(
                order, status=OrderStatus.CLOSED, exit_price=px, exit_kind=FillKind.CLOSE,
                closed_at=now,
            )  # fmt: skip
            result = CloseResult(symbol, ok=True, fill=fill)
        return result

    async def close_all(self) -> Sequence[CloseResult]:
        symbols = sorted({o.symbol for o in self.orders.values() if o.status.is_open})
        return [await self.close(s) for s in symbols]

    async def account(self) -> Account:
        book = positions_from(self.fills)
        realized = realized_pnl(self.fills)
        value = sum(
            ((self.prices.get(s, p.avg_price) - p.avg_price) * p.quantity for s, p in book.items()),
            Decimal(0),
        )
        gross = sum(
            (abs(p.quantity) * self.prices.get(s, p.avg_price) for s, p in book.items()), Decimal(0)
        )
        working = sum(
            (o.order.notional for o in self.orders.values() if o.status is OrderStatus.PENDING),
            Decimal(0),
        )
        equity = self.starting + realized + value
        power = max(equity * 2 - gross - working, Decimal(0))
        return Account(equity, self.starting + realized, power, self.starting)

"""The fake Alpaca's book: orders (brackets with legs), positions, cash, prices, faults.

Everything is guarded by one lock: the HTTP server answers from its own threads while the
test drives the market (``fill_entry``, ``set_price``) from the Trio thread.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

OPEN = {"new", "accepted", "held", "pending_new", "partially_filled"}


@dataclass
class Fault:
    """Answer the next ``times`` requests matching ``method path`` with ``status``.

    ``query``: only requests whose query string has these parameters (e.g. one day's bars).
    """

    method: str
    path: str
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeAlpacaState:
    """The whole fake account. Tests read and script it directly."""

    key_id: str = "test-key"
    secret_key: str = "test-secret"
    cash: Decimal = Decimal("100000.00")
    last_equity: Decimal = Decimal("100000.00")
    clock_offset: timedelta = timedelta(0)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    positions: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    close_failures: dict[str, tuple[int, str]] = field(default_factory=dict)
    calendar_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    assets: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)  # Decimal values
    data_as_strings: bool = False  # market data as decimal strings instead of JSON numbers
    bars: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # 1Min (and default)
    daily_bars: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # timeframe=1Day
    news: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    hide_filled_from_open: bool = False  # filled brackets drop out of GET /v2/orders?status=open
    hold_submit: threading.Event | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)
    queries: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path, query)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # --- scripting -------------------------------------------------------------------------
    def inject(self, method: str, path: str, status: int, times: int = 1, **kw: Any) -> None:
        """Queue a fault for the next ``times`` matching requests."""
        with self.lock:
            self.faults.append(Fault(method, path, status, times, **kw))

    def take_fault(
        self, method: str, path: str, query: dict[str, str] | None = None
    ) -> Fault | None:
        """The fault for this request, if one is queued (consumes one use)."""
        query = query or {}
        with self.lock:
            for fault in self.faults:
                wanted = all(query.get(k) == v for k, v in fault.query.items())
                if fault.method == method and fault.path == path and fault.times > 0 and wanted:
                    fault.times -= 1
                    return fault
        return None

    def count(self, method: str, path: str) -> int:
        """How many requests reached ``method path``."""
        with self.lock:
            return sum(1 for r in self.requests if r == (method, path))

    # --- the market ------------------------------------------------------------------------
    def now(self) -> datetime:
        """The fake's wall clock (with the injected skew)."""
        return datetime.now(UTC) + self.clock_offset

    def new_id(self) -> str:
        """A fresh broker id."""
        return f"00000000-0000-4000-8000-{next(self._ids):012d}"

    def by_cid(self, cid: str) -> dict[str, Any] | None:
        """The parent order with this client id."""
        return next((o for o in self.orders.values() if o["client_order_id"] == cid), None)

    def price(self, symbol: str) -> Decimal:
        """The last price, or the position's average if none was set."""
        if symbol in self.prices:
            return self.prices[symbol]
        held = self.positions.get(symbol)
        return held[1] if held else Decimal(0)

    def equity(self) -> Decimal:
        """Cash plus the market value of every position."""
        return self.cash + sum(
            (q * self.price(s) for s, (q, _) in self.positions.items()), Decimal(0)
        )

    def trade(self, symbol: str, signed_qty: int, px: Decimal) -> None:
        """Book a fill into cash and the position."""
        qty, avg = self.positions.get(symbol, (0, Decimal(0)))
        self.cash -= signed_qty * px
        new = qty + signed_qty
        if new == 0:
            self.positions.pop(symbol, None)
        elif qty == 0 or (qty > 0) == (signed_qty > 0):
            self.positions[symbol] = (new, (avg * qty + px * signed_qty) / new)
        else:
            self.positions[symbol] = (new, avg)

    def fill_entry(self, cid: str, px: Decimal | None = None) -> None:
        """Fill a bracket's entry at its stop price (or ``px``); its legs go live."""
        with self.lock:
            order = self.by_cid(cid)
            assert order is not None, cid
            price = px if px is not None else Decimal(order["stop_price"])
            qty = int(order["qty"])
            order.update(
                status="filled", filled_qty=str(qty), filled_avg_price=str(price),
                filled_at=self.now().isoformat(),
            )  # fmt: skip
            for leg in order["legs"]:
                leg["status"] = "new"
            self.trade(order["symbol"], qty if order["side"] == "buy" else -qty, price)

    def set_price(self, symbol: str, px: Decimal) -> None:
        """Move the last price; a live exit leg it crosses fills."""
        with self.lock:
            self.prices[symbol] = px
            for order in self.orders.values():
                if order["symbol"] != symbol or order["status"] != "filled":
                    continue
                long = order["side"] == "buy"
                for leg in order["legs"]:
                    if leg["status"] != "new":
                        continue
                    level = Decimal(leg["limit_price"] or leg["stop_price"])
                    hit = (px >= level) == long if leg["type"] == "limit" else (px <= level) == long
                    if hit:
                        self._fill_leg(order, leg, level)

    def _fill_leg(self, order: dict[str, Any], leg: dict[str, Any], px: Decimal) -> None:
        qty = int(order["qty"])
        leg.update(status="filled", filled_qty=str(qty), filled_avg_price=str(px),
                   filled_at=self.now().isoformat())  # fmt: skip
        for other in order["legs"]:
            if other is not leg and other["status"] in OPEN:
                other.update(status="canceled", canceled_at=self.now().isoformat())
        self.trade(order["symbol"], -qty if order["side"] == "buy" else qty, px)

"""PaperBroker: the Broker port over simulated bars, with orders and fills kept in SQLite.

Time model: every call first catches up to ``clock.now()``: it fetches the complete bars
since each open order's cursor from the ``MarketData`` and applies the fill rules of
``finagent.domain.fill_model`` bar by bar. ``sync_to(now)`` does the same explicitly. A
working entry expires once "now" is on a later New York date than its submission (TIF day).
Time stops and the flatten are the caller's: ``close(symbol)`` / ``close_all()``.

Storage: the broker owns its own SQLite file (it plays the external broker), so a restart
keeps orders, fills and positions. Calls are short. They run inline on the Trio thread by
default, which is deterministic under ``MockClock`` (a worker thread would let autojump move
time during a commit, trio #456); pass ``threaded=True`` to run them through
``trio.to_thread`` with a one-thread limiter instead.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, final
from zoneinfo import ZoneInfo

import trio

from finagent.domain.errors import InsufficientBuyingPower, OrderNotFound
from finagent.domain.fill_model import FillModel, apply_bar, close_at
from finagent.domain.market import Side
from finagent.domain.money import ZERO, dec, money
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

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from pathlib import Path

    from finagent.ports.clock import Clock
    from finagent.ports.market import MarketData

__all__ = ["PaperBroker", "open_paper_broker", "read_paper_book"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS paper_orders (
    client_order_id TEXT PRIMARY KEY, broker_id TEXT NOT NULL UNIQUE, symbol TEXT NOT NULL,
    side TEXT NOT NULL, quantity INTEGER NOT NULL, entry TEXT NOT NULL, stop_loss TEXT NOT NULL,
    take_profit TEXT NOT NULL, status TEXT NOT NULL, submitted_at TEXT NOT NULL,
    filled_quantity INTEGER NOT NULL DEFAULT 0, filled_price TEXT, filled_at TEXT,
    exit_price TEXT, exit_kind TEXT, closed_at TEXT, cursor TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS paper_orders_open ON paper_orders(status);
CREATE TABLE IF NOT EXISTS paper_fills (
    id INTEGER PRIMARY KEY AUTOINCREMENT, client_order_id TEXT NOT NULL, symbol TEXT NOT NULL,
    side TEXT NOT NULL, quantity INTEGER NOT NULL, price TEXT NOT NULL, at TEXT NOT NULL,
    kind TEXT NOT NULL, commission TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS paper_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_OPEN = ("pending", "filled")
_NY = ZoneInfo("America/New_York")


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _dec(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


#: every column of an order, with the commissions its fills paid (entry, and exits)
_ORDER_ROWS = (
    "SELECT o.*,"
    " (SELECT group_concat(f.commission, ' ') FROM paper_fills f"
    "  WHERE f.client_order_id = o.client_order_id AND f.kind = 'entry') AS entry_commission,"
    " (SELECT group_concat(f.commission, ' ') FROM paper_fills f"
    "  WHERE f.client_order_id = o.client_order_id AND f.kind != 'entry') AS exit_commission"
    " FROM paper_orders o"
)


def _paid(commissions: str | None) -> Decimal:
    """The sum of a ``group_concat`` of decimal strings (exact: never summed as floats)."""
    return sum((Decimal(c) for c in (commissions or "").split()), ZERO)


def _row_order(row: sqlite3.Row) -> tuple[BrokerOrder, datetime]:
    bracket = BracketOrder(
        row["client_order_id"], row["symbol"], Side(row["side"]), row["quantity"],
        Decimal(row["entry"]), Decimal(row["stop_loss"]), Decimal(row["take_profit"]),
    )  # fmt: skip
    order = BrokerOrder(
        order=bracket,
        broker_id=row["broker_id"],
        status=OrderStatus(row["status"]),
        submitted_at=datetime.fromisoformat(row["submitted_at"]),
        filled_quantity=row["filled_quantity"],
        filled_price=_dec(row["filled_price"]),
        filled_at=_ts(row["filled_at"]),
        exit_price=_dec(row["exit_price"]),
        exit_kind=FillKind(row["exit_kind"]) if row["exit_kind"] else None,
        closed_at=_ts(row["closed_at"]),
        entry_commission=_paid(row["entry_commission"]),
        exit_commission=_paid(row["exit_commission"]),
    )
    return order, datetime.fromisoformat(row["cursor"])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _text(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


@final
class PaperBroker:
    """The Broker port, filled against ``market``'s minute bars as of ``clock.now()``."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        market: MarketData,
        clock: Clock,
        *,
        model: FillModel,
        starting_equity: Decimal,
        margin_multiplier: Decimal = Decimal(2),
        threaded: bool = False,
    ) -> None:
        self._conn = conn
        self._market = market
        self._clock = clock
        self._model = model
        self._multiplier = margin_multiplier
        self._threaded = threaded
        self._limiter = trio.CapacityLimiter(1)
        self._lock = trio.Lock()
        conn.row_factory = sqlite3.Row
        conn.executescript(_SCHEMA)
        conn.execute(
            "INSERT OR IGNORE INTO paper_meta(key, value) VALUES ('starting_equity', ?)",
            (str(starting_equity),),
        )
        conn.commit()
        stored = conn.execute("SELECT value FROM paper_meta WHERE key='starting_equity'").fetchone()
        self._starting = Decimal(stored["value"])

    # ---- storage ------------------------------------------------------------------------
    async def _db(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if not self._threaded:
            return fn(*args, **kwargs)
        return await trio.to_thread.run_sync(lambda: fn(*args, **kwargs), limiter=self._limiter)

    def _orders(
        self, where: str = "", params: Sequence[Any] = ()
    ) -> list[tuple[BrokerOrder, datetime]]:
        sql = f"{_ORDER_ROWS} {where} ORDER BY submitted_at, client_order_id"
        return [_row_order(r) for r in self._conn.execute(sql, params).fetchall()]

    def _fills(self) -> list[Fill]:
        return _all_fills(self._conn)

    def _insert(self, order: BracketOrder, now: datetime) -> None:
        broker_id = "paper-" + hashlib.sha256(order.client_order_id.encode()).hexdigest()[:16]
        with self._conn:
            self._conn.execute(
                "INSERT OR IGNORE INTO paper_orders(client_order_id, broker_id, symbol, side,"
                " quantity, entry, stop_loss, take_profit, status, submitted_at, cursor)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (order.client_order_id, broker_id, order.symbol, order.side.value, order.quantity,
                 str(order.entry), str(order.stop_loss), str(order.take_profit),
                 OrderStatus.PENDING.value, now.isoformat(), now.isoformat()),
            )  # fmt: skip

    def _save(self, order: BrokerOrder, cursor: datetime, fills: Sequence[Fill]) -> None:
        with self._conn:
            self._conn.execute(
                "UPDATE paper_orders SET status=?, filled_quantity=?, filled_price=?, filled_at=?,"
                " exit_price=?, exit_kind=?, closed_at=?, cursor=? WHERE client_order_id=?",
                (order.status.value, order.filled_quantity, _text(order.filled_price),
                 _iso(order.filled_at), _text(order.exit_price),
                 order.exit_kind.value if order.exit_kind else None, _iso(order.closed_at),
                 cursor.isoformat(), order.client_order_id),
            )  # fmt: skip
            self._conn.executemany(
                "INSERT INTO paper_fills(client_order_id, symbol, side, quantity, price, at,"
                " kind, commission) VALUES (?,?,?,?,?,?,?,?)",
                [(f.client_order_id, f.symbol, f.side.value, f.quantity, str(f.price),
                  f.at.isoformat(), f.kind.value, str(f.commission)) for f in fills],
            )  # fmt: skip

    # ---- time ---------------------------------------------------------------------------
    async def sync_to(self, now: datetime) -> None:
        """Apply every complete bar up to ``now`` to the open orders, in time order."""
        async with self._lock:
            await self._sync(now)

    async def _sync(self, now: datetime) -> None:
        for order, cursor in await self._db(self._orders, "WHERE status IN (?, ?)", _OPEN):
            if order.status is OrderStatus.PENDING and _expired(order, now):
                expired = replace(order, status=OrderStatus.EXPIRED, closed_at=now)
                await self._db(self._save, expired, cursor, ())
                continue
            bars = await self._market.minute_bars(order.symbol, cursor, now)
            fills: list[Fill] = []
            for bar in bars:
                order, caused = apply_bar(order, bar, self._model)
                fills.extend(caused)
                cursor = bar.end
                if not order.status.is_open:
                    break
            if bars:
                await self._db(self._save, order, cursor, fills)

    # ---- OrderEntry ---------------------------------------------------------------------
    async def submit(self, order: BracketOrder) -> BrokerOrder:
        """Accept a bracket (idempotent by client_order_id) if buying power covers it."""
        async with self._lock:
            now = self._clock.now()
            await self._sync(now)
            found = await self._db(
                self._orders, "WHERE client_order_id = ?", (order.client_order_id,)
            )
            if found:
                return found[0][0]
            account = await self._account(now)
            if order.notional > account.buying_power:
                raise InsufficientBuyingPower(
                    f"notional {order.notional} > buying power {account.buying_power}",
                    order.client_order_id,
                )
            await self._db(self._insert, order, now)
            rows = await self._db(
                self._orders, "WHERE client_order_id = ?", (order.client_order_id,)
            )
            return rows[0][0]

    async def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client id, as of now."""
        async with self._lock:
            await self._sync(self._clock.now())
            rows = await self._db(self._orders, "WHERE client_order_id = ?", (client_order_id,))
            return rows[0][0] if rows else None

    async def cancel(self, client_order_id: str) -> BrokerOrder:
        """Cancel a working entry; a filled or finished bracket comes back unchanged."""
        async with self._lock:
            now = self._clock.now()
            await self._sync(now)
            rows = await self._db(self._orders, "WHERE client_order_id = ?", (client_order_id,))
            if not rows:
                raise OrderNotFound(client_order_id)
            order, cursor = rows[0]
            if order.status is not OrderStatus.PENDING:
                return order
            canceled, _ = close_at(order, ZERO, now, self._model)
            await self._db(self._save, canceled, cursor, ())
            return canceled

    async def open_orders(self) -> Sequence[BrokerOrder]:
        """Pending entries and filled brackets whose exit legs still work."""
        async with self._lock:
            await self._sync(self._clock.now())
            return [o for o, _ in await self._db(self._orders, "WHERE status IN (?, ?)", _OPEN)]

    async def orders_since(self, since: datetime) -> Sequence[BrokerOrder]:
        """Every order in the paper orders table submitted at or after ``since``."""
        async with self._lock:
            await self._sync(self._clock.now())
            return [o for o, _ in await self._db(self._orders) if o.submitted_at >= since]

    # ---- AccountView --------------------------------------------------------------------
    async def positions(self) -> Sequence[Position]:
        """Net positions from every fill, by symbol."""
        async with self._lock:
            await self._sync(self._clock.now())
            book = positions_from(await self._db(self._fills))
            return [book[s] for s in sorted(book)]

    async def close(self, symbol: str) -> CloseResult:
        """Cancel the symbol's working entry and flatten its position at the last price."""
        async with self._lock:
            now = self._clock.now()
            await self._sync(now)
            return await self._close(symbol, now)

    async def close_all(self) -> Sequence[CloseResult]:
        """Close every symbol with an open order; one result per symbol, sorted."""
        async with self._lock:
            now = self._clock.now()
            await self._sync(now)
            open_ = await self._db(self._orders, "WHERE status IN (?, ?)", _OPEN)
            return [await self._close(s, now) for s in sorted({o.symbol for o, _ in open_})]

    async def _close(self, symbol: str, now: datetime) -> CloseResult:
        rows = await self._db(
            self._orders, "WHERE symbol = ? AND status IN (?, ?)", (symbol, *_OPEN)
        )
        if not rows:
            return CloseResult(symbol, ok=False, error="no open position or order")
        prices = await self._market.last_prices([symbol], now)
        last = prices.get(symbol)
        result = CloseResult(symbol, ok=True)
        for order, cursor in rows:
            if order.status is OrderStatus.FILLED and last is None:
                return CloseResult(symbol, ok=False, error="no last price to close at")
            closed, fill = close_at(order, last or ZERO, now, self._model)
            await self._db(self._save, closed, cursor, [fill] if fill else [])
            result = CloseResult(symbol, ok=True, fill=fill) if fill else result
        return result

    async def account(self) -> Account:
        """Equity = starting equity + realized (net of commission) + unrealized at last prices."""
        async with self._lock:
            now = self._clock.now()
            await self._sync(now)
            return await self._account(now)

    async def _account(self, now: datetime) -> Account:
        fills = await self._db(self._fills)
        book = positions_from(fills)
        prices = await self._market.last_prices(sorted(book), now) if book else {}
        realized = realized_pnl(fills)
        day_start = now.astimezone(_NY).date()
        before = realized_pnl(f for f in fills if f.at.astimezone(_NY).date() < day_start)
        cost = sum((p.avg_price * p.quantity for p in book.values()), ZERO)
        value = sum((p.market_value(prices.get(s, p.avg_price)) for s, p in book.items()), ZERO)
        gross = sum((p.notional(prices.get(s, p.avg_price)) for s, p in book.items()), ZERO)
        pending = [o for o, _ in await self._db(self._orders, "WHERE status = 'pending'")]
        working = sum((o.order.notional for o in pending), ZERO)
        equity = money(self._starting + realized + value - cost)
        power = max(money(equity * self._multiplier - gross - working), ZERO)
        cash = money(self._starting + realized - cost)
        return Account(equity, cash, power, money(self._starting + before))


def _all_fills(conn: sqlite3.Connection) -> list[Fill]:
    rows = conn.execute("SELECT * FROM paper_fills ORDER BY id").fetchall()
    return [
        Fill(r["client_order_id"], r["symbol"], OrderSide(r["side"]), r["quantity"],
             Decimal(r["price"]), datetime.fromisoformat(r["at"]), FillKind(r["kind"]),
             Decimal(r["commission"]))
        for r in rows
    ]  # fmt: skip


def read_paper_book(path: Path) -> tuple[list[BrokerOrder], list[Fill]] | None:
    """Every order and fill of the paper broker at ``path``, read-only; None: no book there.

    ``finagent status`` reads it while the daemon runs (WAL: readers never block the writer).
    """
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(f"{_ORDER_ROWS} ORDER BY submitted_at, client_order_id")
        orders = [_row_order(r)[0] for r in rows.fetchall()]
        return orders, _all_fills(conn)
    except sqlite3.OperationalError:  # the broker never opened it (no tables yet)
        return None
    finally:
        conn.close()


def _expired(order: BrokerOrder, now: datetime) -> bool:
    return now.astimezone(_NY).date() > order.submitted_at.astimezone(_NY).date()


@asynccontextmanager
async def open_paper_broker(
    path: Path | str,
    market: MarketData,
    clock: Clock,
    *,
    slippage_bps: float = 2.0,
    commission_per_share: float = 0.0,
    starting_equity: float = 100_000.0,
    threaded: bool = False,
) -> AsyncIterator[PaperBroker]:
    """Open (or reopen) the paper broker stored at ``path``; closes its connection on exit."""
    conn = sqlite3.connect(str(path), check_same_thread=not threaded)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        yield PaperBroker(
            conn, market, clock,
            model=FillModel(slippage_bps, commission_per_share),
            starting_equity=dec(starting_equity),
            threaded=threaded,
        )  # fmt: skip
    finally:
        conn.close()

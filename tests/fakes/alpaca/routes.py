"""The fake Alpaca's endpoints: ``route(state, method, path, query, body) -> Reply``.

Shapes follow Alpaca's Trading API v2 and Market Data API v2 (docs/alpaca.md lists the wire
types): decimal strings on the Trading API, JSON numbers in market data (``market.render``),
``{"code", "message"}`` errors, 207 for close-all, ``next_page_token``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.fakes.alpaca.market import render
from tests.fakes.alpaca.state import OPEN, FakeAlpacaState

NY = ZoneInfo("America/New_York")


@dataclass
class Reply:
    """Status, JSON body (None for 204) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _err(status: int, message: str, code: int | None = None) -> Reply:
    return Reply(status, {"code": code or status * 100000, "message": message})


def _open(order: dict[str, Any]) -> bool:
    return order["status"] in OPEN or any(leg["status"] in OPEN for leg in order["legs"])


def _submitted(order: dict[str, Any]) -> str:
    return str(order.get("submitted_at") or order["created_at"])


def _shown(order: dict[str, Any], nested: bool) -> dict[str, Any]:
    """The order as a response shows it: legs only when asked for ``nested``."""
    return {**order, "legs": order["legs"] if nested else None}


def _hidden(s: FakeAlpacaState, order: dict[str, Any]) -> bool:
    # alpaca-trade-api-js #87: a bracket whose entry filled was seen missing from status=open.
    return s.hide_filled_from_open and order["status"] == "filled"


def _by_id(s: FakeAlpacaState, order_id: str, nested: bool) -> Reply:
    for order in s.orders.values():
        if order["id"] == order_id:
            return Reply(200, _shown(order, nested))
        for leg in order["legs"]:
            if leg["id"] == order_id:
                return Reply(200, {**leg, "legs": None})
    return _err(404, "order not found", 40410000)


def _account(s: FakeAlpacaState) -> Reply:
    equity = s.equity()
    return Reply(200, {
        "id": "acct", "status": "ACTIVE", "currency": "USD", "equity": str(equity),
        "last_equity": str(s.last_equity), "cash": str(s.cash),
        "buying_power": str(_buying_power(s)), "pattern_day_trader": False,
        "trading_blocked": False, "account_blocked": False, "multiplier": "4",
    })  # fmt: skip


def _buying_power(s: FakeAlpacaState) -> Decimal:
    used = sum(
        (Decimal(o["qty"]) * Decimal(o["stop_price"]) for o in s.orders.values()
         if o["status"] in OPEN),
        Decimal(0),
    )  # fmt: skip
    exposure = sum((abs(q) * s.price(sym) for sym, (q, _) in s.positions.items()), Decimal(0))
    return 4 * s.equity() - used - exposure


def _submit(s: FakeAlpacaState, body: dict[str, Any]) -> Reply:
    cid = body.get("client_order_id") or s.new_id()
    if len(cid) > 48:
        return _err(422, "client_order_id must be no more than 48 characters", 40010001)
    if s.by_cid(cid) is not None:
        return _err(422, "client_order_id must be unique", 40010001)
    if body.get("order_class") != "bracket" or body.get("type") != "stop":
        return _err(422, "fake supports stop-entry brackets only", 40010001)
    if Decimal(body["qty"]) * Decimal(body["stop_price"]) > _buying_power(s):
        return _err(403, "insufficient buying power", 40310000)
    now = s.now().isoformat()
    exit_side = "sell" if body["side"] == "buy" else "buy"

    def leg(kind: str, limit: str | None, stop: str | None) -> dict[str, Any]:
        return {"id": s.new_id(), "client_order_id": s.new_id(), "symbol": body["symbol"],
                "qty": body["qty"], "side": exit_side, "type": kind, "limit_price": limit,
                "stop_price": stop, "status": "held", "order_class": "bracket",
                "filled_qty": "0", "filled_avg_price": None, "created_at": now}  # fmt: skip

    order = {
        "id": s.new_id(), "client_order_id": cid, "symbol": body["symbol"], "qty": body["qty"],
        "side": body["side"], "type": "stop", "stop_price": body["stop_price"],
        "limit_price": None, "time_in_force": body["time_in_force"], "order_class": "bracket",
        "status": "accepted", "created_at": now, "submitted_at": now, "filled_qty": "0",
        "filled_avg_price": None, "filled_at": None, "canceled_at": None,
        "legs": [leg("limit", body["take_profit"]["limit_price"], None),
                 leg("stop", None, body["stop_loss"]["stop_price"])],
    }  # fmt: skip
    s.orders[order["id"]] = order
    return Reply(200, order)


def _cancel(s: FakeAlpacaState, order_id: str) -> Reply:
    for order in s.orders.values():
        for target in [order, *order["legs"]]:
            if target["id"] != order_id:
                continue
            if target["status"] not in OPEN or target["status"] == "partially_filled":
                return _err(422, "order is not cancelable", 42210000)
            now = s.now().isoformat()
            target.update(status="canceled", canceled_at=now)
            if target is order:
                for leg in order["legs"]:
                    leg.update(status="canceled", canceled_at=now)
            return Reply(204)
    return _err(404, "order not found", 40410000)


def _close(s: FakeAlpacaState, symbol: str) -> Reply:
    if symbol in s.close_failures:
        status, message = s.close_failures[symbol]
        return _err(status, message)
    if symbol not in s.positions:
        return _err(404, "position does not exist", 40410000)
    qty, _ = s.positions[symbol]
    held = any(o["symbol"] == symbol and any(leg["status"] in OPEN for leg in o["legs"])
               for o in s.orders.values())  # fmt: skip
    if held:
        return _err(
            403, f"insufficient qty available for order (requested: {abs(qty)}, available: 0)"
        )
    px = s.price(symbol)
    now = s.now().isoformat()
    s.trade(symbol, -qty, px)
    return Reply(200, {
        "id": s.new_id(), "client_order_id": s.new_id(), "symbol": symbol, "qty": str(abs(qty)),
        "side": "sell" if qty > 0 else "buy", "type": "market", "status": "filled",
        "filled_qty": str(abs(qty)), "filled_avg_price": str(px), "filled_at": now,
        "order_class": "simple", "created_at": now,
    })  # fmt: skip


def _close_all(s: FakeAlpacaState) -> Reply:
    for order in s.orders.values():
        for target in [order, *order["legs"]]:
            if target["status"] in OPEN:
                target.update(status="canceled", canceled_at=s.now().isoformat())
    items = []
    for symbol in sorted(s.positions):
        reply = _close(s, symbol)
        items.append({"symbol": symbol, "status": reply.status, "body": reply.body})
    return Reply(207, items)


def _calendar(s: FakeAlpacaState, query: dict[str, str]) -> Reply:
    from finagent.adapters.exchange_calendar import XcalsExchangeCalendar

    start, end = date.fromisoformat(query["start"]), date.fromisoformat(query["end"])
    rows = []
    for session in XcalsExchangeCalendar("XNYS").sessions(start, end):
        day = session.date.isoformat()
        row = {"date": day, "open": session.open.astimezone(NY).strftime("%H:%M"),
               "close": session.close.astimezone(NY).strftime("%H:%M"),
               "session_open": "0400", "session_close": "2000", "settlement_date": day}  # fmt: skip
        row.update(s.calendar_overrides.get(day, {}))
        rows.append(row)
    return Reply(200, rows)


def _clock(s: FakeAlpacaState) -> Reply:
    now = s.now().astimezone(NY)
    later = (now + timedelta(days=1)).isoformat()
    return Reply(200, {"timestamp": now.isoformat(), "is_open": False,
                       "next_open": later, "next_close": later})  # fmt: skip


def _page(items: list[Any], query: dict[str, str], size: int) -> tuple[list[Any], str | None]:
    start = int(query.get("page_token") or 0)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _within(at: str, query: dict[str, str]) -> bool:
    """``at`` in ``[start, end]`` of the query (each bound optional), as Alpaca filters."""
    t = datetime.fromisoformat(at)
    start, end = query.get("start"), query.get("end")
    return (start is None or datetime.fromisoformat(start) <= t) and (
        end is None or t <= datetime.fromisoformat(end)
    )


def _data(s: FakeAlpacaState, path: str, query: dict[str, str]) -> Reply | None:
    symbols = [x for x in query.get("symbols", "").split(",") if x]
    if path == "/v2/stocks/snapshots":
        snaps = {sym: s.snapshots[sym] for sym in symbols if sym in s.snapshots}
        return Reply(200, render(snaps, s.data_as_strings))
    if path == "/v2/stocks/trades/latest":
        trades = {sym: s.snapshots[sym]["latestTrade"] for sym in symbols if sym in s.snapshots}
        return Reply(200, {"trades": render(trades, s.data_as_strings)})
    if path == "/v2/stocks/bars":
        # As Alpaca: ``limit`` counts bars across symbols; pages run by symbol, then time.
        source = s.daily_bars if query.get("timeframe") == "1Day" else s.bars
        rows = [(sym, b) for sym in sorted(symbols) for b in source.get(sym, [])
                if _within(b["t"], query)]  # fmt: skip
        page, token = _page(rows, query, s.page_size)
        grouped: dict[str, list[Any]] = {}
        for sym, b in page:
            grouped.setdefault(sym, []).append(b)
        bars = render(grouped, s.data_as_strings)
        return Reply(200, {"bars": bars, "next_page_token": token})
    if path == "/v1beta1/news":
        wanted = [
            n
            for n in s.news
            if set(n["symbols"]) & set(symbols) and _within(n["created_at"], query)
        ]
        page, token = _page(wanted, query, s.page_size)
        return Reply(200, {"news": page, "next_page_token": token})
    return None


def route(s: FakeAlpacaState, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
    """Answer one request (the caller holds ``s.lock``)."""
    key = (method, path)
    if path.startswith("/v2/orders/"):
        key = (method, "/v2/orders/{id}")
    if path.startswith("/v2/positions/"):
        key = (method, "/v2/positions/{symbol}")
    tail = path.rsplit("/", 1)[-1]
    match key:
        case ("GET", "/v2/account"):
            return _account(s)
        case ("POST", "/v2/orders"):
            return _submit(s, body)
        case ("GET", "/v2/orders:by_client_order_id"):
            # Documented with one parameter, client_order_id: the answer carries no legs.
            found = s.by_cid(query.get("client_order_id", ""))
            if found is None:
                return _err(404, "order not found", 40410000)
            return Reply(200, _shown(found, False))
        case ("GET", "/v2/orders/{id}"):
            return _by_id(s, tail, query.get("nested") == "true")
        case ("GET", "/v2/orders"):
            nested = query.get("nested") == "true"
            if query.get("status") == "all":  # after= (exclusive), ascending, up to limit=
                after = datetime.fromisoformat(query["after"])
                listed = sorted(
                    (o for o in s.orders.values()
                     if datetime.fromisoformat(_submitted(o)) > after),
                    key=_submitted,
                )[: int(query.get("limit", "50"))]  # fmt: skip
                return Reply(200, [_shown(o, nested) for o in listed])
            listed = [o for o in s.orders.values() if _open(o) and not _hidden(s, o)]
            return Reply(200, [_shown(o, nested) for o in listed])
        case ("DELETE", "/v2/orders/{id}"):
            return _cancel(s, tail)
        case ("GET", "/v2/positions"):
            return Reply(200, [
                {"symbol": sym, "qty": str(q), "side": "long" if q > 0 else "short",
                 "avg_entry_price": str(avg), "current_price": str(s.price(sym))}
                for sym, (q, avg) in sorted(s.positions.items())
            ])  # fmt: skip
        case ("DELETE", "/v2/positions/{symbol}"):
            return _close(s, tail)
        case ("DELETE", "/v2/positions"):
            return _close_all(s)
        case ("GET", "/v2/clock"):
            return _clock(s)
        case ("GET", "/v2/calendar"):
            return _calendar(s, query)
        case ("GET", "/v2/assets"):
            return Reply(200, s.assets)
    reply = _data(s, path, query) if method == "GET" else None
    return reply or _err(404, f"no route {method} {path}")


def now_iso(at: datetime) -> str:
    """An RFC 3339 time as Alpaca writes it (UTC, ``Z``)."""
    return at.astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")

"""AlpacaBroker: the Broker port over Alpaca's Trading API v2 (paper or live).

Unknown outcomes: a submit that timed out, lost its connection or got a 5xx/429 is looked
up by ``client_order_id`` before anything is re-sent; only if the broker has no such order is
it sent again (with back-off). A 422 duplicate ``client_order_id`` means the order exists: it
is fetched and returned. 401/403/422 become typed ``finagent.domain.errors`` (by status and
Alpaca's ``code``, see :mod:`~finagent.adapters.alpaca.refusals`); transient failures that
outlast the retries become ``BrokerUnavailable``.

Legs: ``GET /v2/orders:by_client_order_id`` documents no ``nested`` parameter, so its answer
may come without the take-profit and stop legs. They are then read by the parent's id from
``GET /v2/orders/{id}?nested=true``, which documents them. Every bracket id seen (submitted,
looked up, listed) is remembered per symbol, so closing a symbol finds its exit legs even when
a filled bracket is missing from the ``status=open`` list (alpaca-trade-api-js #87).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, final

from finagent.adapters.alpaca.http import (
    AlpacaApiError,
    AlpacaHttp,
    RetryableError,
    json_body,
)
from finagent.adapters.alpaca.refusals import is_duplicate_client_id, rejection
from finagent.adapters.alpaca.wire import bracket_body, dec, order_from_wire, timestamp
from finagent.domain.errors import (
    BrokerError,
    BrokerUnavailable,
    DuplicateClientOrderId,
    OrderNotFound,
)
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

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import datetime


__all__ = [
    "LIVE_TRADING_URL",
    "AlpacaBroker",
    "BrokerAuthError",
    "LiveTradingNotConfirmed",
    "check_live_confirmed",
]

log = logging.getLogger(__name__)

LIVE_TRADING_URL: Final = "https://api.alpaca.markets"
_BY_CLIENT_ID: Final = "/v2/orders:by_client_order_id"
_LEG_ENDED: Final = frozenset({"filled", "canceled", "expired", "rejected"})


class BrokerAuthError(BrokerError):
    """The keys were refused (401/403 outside an order): fix the keys, retrying will not help."""


class LiveTradingNotConfirmed(BrokerError):
    """``broker: alpaca_live`` without ``alpaca.confirm_live``, or a URL for the other mode."""


def check_live_confirmed(broker: str, trading_url: str, confirm_live: bool) -> None:
    """Refuse live trading unless confirmed, and a paper/live mode that contradicts the URL.

    Raises:
        LiveTradingNotConfirmed: one line saying what to set.
    """
    is_live_url = trading_url.rstrip("/") == LIVE_TRADING_URL
    if broker == "alpaca_live" and not confirm_live:
        raise LiveTradingNotConfirmed(
            "broker alpaca_live trades real money: set alpaca.confirm_live: true "
            "(or FINAGENT_ALPACA__CONFIRM_LIVE=true) to confirm"
        )
    if broker == "alpaca_live" and not is_live_url:
        raise LiveTradingNotConfirmed(
            f"broker alpaca_live needs alpaca.trading_url: {LIVE_TRADING_URL} (got {trading_url})"
        )
    if broker == "alpaca_paper" and is_live_url:
        raise LiveTradingNotConfirmed(
            "broker alpaca_paper but alpaca.trading_url is the live endpoint; "
            "use https://paper-api.alpaca.markets or broker: alpaca_live"
        )


@final
class AlpacaBroker:
    """The Broker port over Alpaca's trading API, through the shared :class:`AlpacaHttp`."""

    def __init__(self, trading: AlpacaHttp) -> None:
        self._http = trading
        # Bracket (parent) ids by symbol: how close() finds exit legs of a filled bracket.
        self._parents: dict[str, set[str]] = {}
        self.page = 500  # orders per page of GET /v2/orders (Alpaca's largest)

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        try:
            yield
        except RetryableError as exc:
            raise BrokerUnavailable(f"{what}: {exc} (outcome unknown)") from exc
        except AlpacaApiError as err:
            if err.status in (401, 403):
                raise BrokerAuthError(f"{what}: Alpaca refused the keys: {err.message}") from err
            raise BrokerError(str(err)) from err
        except (KeyError, TypeError, ValueError) as exc:  # WireError, not JSON, a missing field
            raise BrokerUnavailable(f"{what}: malformed response: {exc!s}") from exc

    async def submit(self, order: BracketOrder) -> BrokerOrder:
        """Place the bracket, or return the broker's order with its client id."""
        cid = order.client_order_id
        endpoint = "POST /v2/orders"

        async def attempt() -> BrokerOrder:
            try:
                response = await self._http.once(
                    "POST", "/v2/orders", endpoint, json=bracket_body(order)
                )
            except RetryableError:
                found = await self.order_by_client_id(cid)  # unknown outcome: look, then resend
                if found is not None:
                    log.info("submit %s: outcome was unknown, the broker has it", cid)
                    return found
                raise
            except AlpacaApiError as err:
                if err.status == 401:
                    raise BrokerAuthError(f"Alpaca refused the keys: {err.message}") from err
                if is_duplicate_client_id(err):
                    found = await self.order_by_client_id(cid)
                    if found is not None:
                        return found
                    raise DuplicateClientOrderId(err.message, cid) from err
                raise rejection(err, cid) from err
            raw = json_body(response)
            self._remember(raw)
            return order_from_wire(raw, known=order)

        with self._translate(f"submit {cid}"):
            return await self._http.retrying(endpoint, attempt)

    async def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client id, or None (404)."""
        raw = await self._lookup(client_order_id)
        if raw is None:
            return None
        with self._translate(f"order {client_order_id}"):
            return order_from_wire(raw)

    async def _lookup(self, client_order_id: str) -> dict[str, Any] | None:
        """The bracket with its legs by client id (legs by the parent's id if absent), or None."""
        params = {"client_order_id": client_order_id}
        with self._translate(f"order {client_order_id}"):
            try:
                raw: dict[str, Any] = await self._http.get_json(
                    _BY_CLIENT_ID, f"GET {_BY_CLIENT_ID}", params
                )
            except AlpacaApiError as err:
                if err.status == 404:
                    return None
                raise
            if not raw.get("legs"):
                raw = await self._by_id(str(raw["id"]))
            self._remember(raw)
            return raw

    async def _by_id(self, broker_id: str) -> dict[str, Any]:
        """``GET /v2/orders/{id}?nested=true``: the order with its legs, as documented."""
        raw: dict[str, Any] = await self._http.get_json(
            f"/v2/orders/{broker_id}", "GET /v2/orders/{id}", {"nested": "true"}
        )
        return raw

    def _remember(self, raw: dict[str, Any]) -> None:
        if raw.get("order_class") == "bracket" and raw.get("symbol"):
            self._parents.setdefault(str(raw["symbol"]), set()).add(str(raw["id"]))

    async def cancel(self, client_order_id: str) -> BrokerOrder:
        """Cancel a working entry; a filled or ended bracket is returned as it is."""
        found = await self.order_by_client_id(client_order_id)
        if found is None:
            raise OrderNotFound(client_order_id)
        if found.status is not OrderStatus.PENDING:
            return found
        await self._delete_order(found.broker_id, f"cancel {client_order_id}")
        return await self.order_by_client_id(client_order_id) or found

    async def _delete_order(self, broker_id: str, what: str) -> None:
        with self._translate(what):
            try:
                await self._http.send("DELETE", f"/v2/orders/{broker_id}", "DELETE /v2/orders/{id}")
            except AlpacaApiError as err:
                if err.status not in (404, 422):  # 422: filled meanwhile, no longer cancelable
                    raise

    async def open_orders(self) -> Sequence[BrokerOrder]:
        """Working brackets (``status=open&nested=true``); other orders are logged and skipped."""
        params = {"status": "open", "nested": "true", "limit": "500", "direction": "asc"}
        with self._translate("open orders"):
            rows = await self._http.get_json("/v2/orders", "GET /v2/orders", params)
        out = []
        for raw in rows:
            if raw.get("order_class") != "bracket":
                log.warning("open order %s is not a bracket; ignored", raw.get("client_order_id"))
                continue
            with self._translate("open orders"):
                out.append(order_from_wire(raw))
            self._remember(raw)
        return out

    async def orders_since(self, since: datetime) -> Sequence[BrokerOrder]:
        """Brackets submitted after ``since``, any status (``status=all&after=``), every page.

        A page of ``_PAGE`` orders asks for the next one after its last submission time
        (``after`` is exclusive); an order seen twice across pages is kept once.
        """
        found: dict[str, BrokerOrder] = {}
        after = since
        while True:
            params = {"status": "all", "nested": "true", "limit": str(self.page),
                      "direction": "asc", "after": after.isoformat()}  # fmt: skip
            with self._translate("orders since"):
                rows = await self._http.get_json("/v2/orders", "GET /v2/orders", params)
                for raw in rows:
                    if raw.get("order_class") == "bracket":  # not a flatten's market order
                        order = order_from_wire(raw)
                        found[order.broker_id] = order
                if len(rows) < self.page:
                    return list(found.values())
                after = timestamp(rows[-1]["submitted_at"])

    async def positions(self) -> Sequence[Position]:
        """Open positions; a short has a negative quantity."""
        with self._translate("positions"):
            rows = await self._http.get_json("/v2/positions", "GET /v2/positions")
            return [_position(raw) for raw in rows]

    async def _cancel_working(self, symbol: str) -> bool:
        """Cancel the symbol's working entries and exit legs; True if any bracket was working.

        The brackets are the ones remembered by id plus today's open list (which adds them to
        the memory): a filled bracket may be missing from that list, but not from the memory.
        """
        await self.open_orders()
        working = False
        for broker_id in sorted(self._parents.get(symbol, ())):
            with self._translate(f"order {broker_id}"):
                raw = await self._by_id(broker_id)
                status = order_from_wire(raw).status
                cid = str(raw["client_order_id"])
                live = [str(leg["id"]) for leg in raw["legs"] if leg["status"] not in _LEG_ENDED]
            if status is OrderStatus.PENDING:
                await self._delete_order(broker_id, f"cancel {cid}")
            elif status is OrderStatus.FILLED:  # the exits hold the shares: free them first
                for leg_id in live:
                    await self._delete_order(leg_id, f"cancel leg of {cid}")
            else:
                self._parents[symbol].discard(broker_id)  # ended: nothing left to free
                continue
            working = True
        return working

    async def close(self, symbol: str) -> CloseResult:
        """Cancel the symbol's working orders and legs, then close its position at the market."""
        try:
            had_orders = await self._cancel_working(symbol)
            with self._translate(f"close {symbol}"):
                try:
                    response = await self._http.send(
                        "DELETE", f"/v2/positions/{symbol}", "DELETE /v2/positions/{symbol}"
                    )
                except AlpacaApiError as err:
                    if err.status == 404 and had_orders:
                        return CloseResult(symbol, ok=True)  # only working orders: canceled
                    return CloseResult(symbol, ok=False, error=err.message)
                fill = _close_fill(json_body(response))
        except BrokerError as err:
            return CloseResult(symbol, ok=False, error=str(err))
        return CloseResult(symbol, ok=True, fill=fill)

    async def close_all(self) -> Sequence[CloseResult]:
        """``DELETE /v2/positions?cancel_orders=true``: one result per symbol (207 items)."""
        working = {o.symbol for o in await self.open_orders()}
        held = {p.symbol for p in await self.positions()}
        try:
            with self._translate("close all"):
                response = await self._http.send(
                    "DELETE",
                    "/v2/positions",
                    "DELETE /v2/positions",
                    params={"cancel_orders": "true"},
                )
                items = json_body(response)
        except BrokerError as err:
            return [CloseResult(s, ok=False, error=str(err)) for s in sorted(working | held)]
        results = {str(item["symbol"]): _close_item(item) for item in items}
        for symbol in working - results.keys():
            results[symbol] = CloseResult(symbol, ok=True)  # its orders were canceled
        for result in results.values():
            if not result.ok:
                log.error("close all: %s failed: %s", result.symbol, result.error)
        return [results[s] for s in sorted(results)]

    async def account(self) -> Account:
        """Equity, cash, buying power and yesterday's equity."""
        with self._translate("account"):
            raw = await self._http.get_json("/v2/account", "GET /v2/account")
            return Account(
                equity=dec(raw["equity"]),
                cash=dec(raw["cash"]),
                buying_power=dec(raw["buying_power"]),
                last_equity=dec(raw["last_equity"]),
            )


def _position(raw: dict[str, Any]) -> Position:
    quantity = abs(int(dec(raw["qty"])))
    signed = -quantity if raw.get("side") == "short" else quantity
    return Position(str(raw["symbol"]), signed, dec(raw["avg_entry_price"]))


def _close_fill(raw: dict[str, Any]) -> Fill | None:
    """The fill of a closing market order, if it filled already (it usually has not yet)."""
    if not raw.get("filled_avg_price") or not raw.get("filled_at"):
        return None
    return Fill(
        client_order_id=str(raw.get("client_order_id") or raw["id"]),
        symbol=str(raw["symbol"]),
        side=OrderSide(raw["side"]),
        quantity=int(dec(raw["filled_qty"])),
        price=dec(raw["filled_avg_price"]),
        at=timestamp(raw["filled_at"]),
        kind=FillKind.CLOSE,
    )


def _close_item(item: dict[str, Any]) -> CloseResult:
    symbol = str(item["symbol"])
    body = item.get("body") or {}
    if 200 <= int(item.get("status", 0)) < 300:
        try:
            return CloseResult(symbol, ok=True, fill=_close_fill(body))
        except (KeyError, ValueError):
            return CloseResult(symbol, ok=True)
    message = body.get("message") if isinstance(body, dict) else None
    return CloseResult(symbol, ok=False, error=f"HTTP {item.get('status')}: {message or body}")

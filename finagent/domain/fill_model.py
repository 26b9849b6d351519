"""Paper fill rules: how a bracket order meets a 1-minute bar (pure, used by the paper broker).

For a long (a short mirrors every comparison):

- Entry is a buy-stop at ``entry``: it triggers when the bar's high reaches it and fills at
  ``max(entry, bar.open)`` (a gap through the level fills at the open), plus slippage.
- Once filled, the stop-loss is checked before the take-profit in every bar, including the
  entry bar: a bar that touches both is a loss (the conservative reading of an OHLC bar).
- The stop fills at ``min(stop, bar.open)`` minus slippage; the target is a limit and fills at
  ``max(target, bar.open)`` without slippage.
- A market close fills at the given last price, minus slippage.
- Commission is ``commission_per_share x quantity`` on every fill.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from finagent.domain.market import Side
from finagent.domain.money import bps, dec, money, price
from finagent.domain.orders import BrokerOrder, Fill, FillKind, OrderSide, OrderStatus

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    from finagent.domain.market import Bar

__all__ = ["FillModel", "apply_bar", "close_at"]


@dataclass(frozen=True, slots=True)
class FillModel:
    """Slippage in basis points (against the trader) and commission per share."""

    slippage_bps: float = 2.0
    commission_per_share: float = 0.0

    def slipped(self, px: Decimal, buying: bool) -> Decimal:
        """``px`` moved against the trader: up for a buy, down for a sell."""
        factor = bps(self.slippage_bps)
        return price(px * (1 + factor) if buying else px * (1 - factor))

    def commission(self, quantity: int) -> Decimal:
        """Commission for ``quantity`` shares, in cents."""
        return money(dec(self.commission_per_share) * quantity)


def _fill(order: BrokerOrder, kind: FillKind, px: Decimal, at: datetime, m: FillModel) -> Fill:
    side = order.order.side
    entering = kind is FillKind.ENTRY
    order_side = OrderSide.entering(side) if entering else OrderSide.exiting(side)
    qty = order.order.quantity
    return Fill(
        order.client_order_id, order.symbol, order_side, qty, px, at, kind, m.commission(qty)
    )


def _exit(
    order: BrokerOrder, bar: Bar, m: FillModel, gap_open: bool
) -> tuple[BrokerOrder, list[Fill]]:
    o = order.order
    long = o.side is Side.LONG
    stop_hit = bar.low <= o.stop_loss if long else bar.high >= o.stop_loss
    target_hit = bar.high >= o.take_profit if long else bar.low <= o.take_profit
    if stop_hit:
        level = o.stop_loss
        if gap_open:
            level = min(level, bar.open) if long else max(level, bar.open)
        px, kind = m.slipped(level, buying=not long), FillKind.STOP
    elif target_hit:
        level = o.take_profit
        if gap_open:
            level = max(level, bar.open) if long else min(level, bar.open)
        px, kind = level, FillKind.TARGET
    else:
        return order, []
    fill = _fill(order, kind, px, bar.end, m)
    done = replace(
        order, status=OrderStatus.CLOSED, exit_price=px, exit_kind=kind, closed_at=bar.end
    )
    return done, [fill]


def apply_bar(order: BrokerOrder, bar: Bar, model: FillModel) -> tuple[BrokerOrder, list[Fill]]:
    """The order after one complete bar, and the fills the bar caused (0, 1 or 2)."""
    if order.status is OrderStatus.FILLED:
        return _exit(order, bar, model, gap_open=True)
    if order.status is not OrderStatus.PENDING:
        return order, []
    o = order.order
    long = o.side is Side.LONG
    if not (bar.high >= o.entry if long else bar.low <= o.entry):
        return order, []
    level = max(o.entry, bar.open) if long else min(o.entry, bar.open)
    px = model.slipped(level, buying=long)
    entry = _fill(order, FillKind.ENTRY, px, bar.end, model)
    filled = replace(
        order,
        status=OrderStatus.FILLED,
        filled_quantity=o.quantity,
        filled_price=px,
        filled_at=bar.end,
    )
    after, exits = _exit(filled, bar, model, gap_open=False)
    return after, [entry, *exits]


def close_at(
    order: BrokerOrder, last: Decimal, at: datetime, model: FillModel
) -> tuple[BrokerOrder, Fill | None]:
    """Flatten a filled bracket at ``last`` (market), or cancel a working entry."""
    if order.status is OrderStatus.PENDING:
        return replace(order, status=OrderStatus.CANCELED, closed_at=at), None
    if order.status is not OrderStatus.FILLED:
        return order, None
    px = model.slipped(last, buying=order.order.side is Side.SHORT)
    fill = _fill(order, FillKind.CLOSE, px, at, model)
    done = replace(
        order, status=OrderStatus.CLOSED, exit_price=px, exit_kind=FillKind.CLOSE, closed_at=at
    )
    return done, fill

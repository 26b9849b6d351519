"""Start-up reconciliation: our open orders and positions against the broker's (pure).

:func:`reconcile` takes domain values and returns a :class:`Reconciliation`;
``finagent.services.reconciliation`` fetches the broker's side through the Broker port.

- An open order the broker has and we lack is **adopted** (we start tracking it).
- An order we think open that the broker does not list as open has **vanished**: the caller
  looks it up by client id to learn how it ended (filled and closed, canceled, expired).
- A position whose quantity differs by more than ``tolerance_shares`` is a **mismatch**;
  trading must not start until someone looks (:func:`require_consistent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from finagent.domain.errors import ReconciliationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from finagent.domain.orders import BrokerOrder, Position

__all__ = [
    "PositionMismatch",
    "Reconciliation",
    "ReconciliationError",
    "reconcile",
    "require_consistent",
]


@dataclass(frozen=True, slots=True)
class PositionMismatch:
    """One symbol whose net quantity differs: ours vs the broker's (0 = flat)."""

    symbol: str
    ours: int
    broker: int


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What the broker has that we lack, what we have that it lacks, and position drift."""

    adopted: tuple[BrokerOrder, ...]
    vanished: tuple[str, ...]
    mismatches: tuple[PositionMismatch, ...]

    @property
    def consistent(self) -> bool:
        """True when no position differs beyond the tolerance."""
        return not self.mismatches

    def summary(self) -> str:
        """One line for the log."""
        drift = ", ".join(f"{m.symbol} ours {m.ours} broker {m.broker}" for m in self.mismatches)
        return (
            f"adopted {len(self.adopted)} order(s), {len(self.vanished)} vanished, "
            f"{len(self.mismatches)} position mismatch(es)" + (f": {drift}" if drift else "")
        )


def reconcile(
    our_orders: Sequence[BrokerOrder],
    our_positions: Sequence[Position],
    broker_orders: Sequence[BrokerOrder],
    broker_positions: Sequence[Position],
    tolerance_shares: int = 0,
) -> Reconciliation:
    """Compare our open orders and positions with the broker's (pure).

    Args:
        our_orders: the orders we believe are open.
        our_positions: our net positions.
        broker_orders: the broker's open orders.
        broker_positions: the broker's positions.
        tolerance_shares: the largest per-symbol quantity difference that is not a mismatch.
    """
    ours = {o.client_order_id for o in our_orders}
    theirs = {o.client_order_id for o in broker_orders}
    adopted = tuple(o for o in broker_orders if o.client_order_id not in ours)
    vanished = tuple(
        sorted(o.client_order_id for o in our_orders if o.client_order_id not in theirs)
    )
    our_qty = {p.symbol: p.quantity for p in our_positions}
    broker_qty = {p.symbol: p.quantity for p in broker_positions}
    mismatches = tuple(
        PositionMismatch(symbol, our_qty.get(symbol, 0), broker_qty.get(symbol, 0))
        for symbol in sorted(our_qty.keys() | broker_qty.keys())
        if abs(our_qty.get(symbol, 0) - broker_qty.get(symbol, 0)) > tolerance_shares
    )
    return Reconciliation(adopted, vanished, mismatches)


def require_consistent(result: Reconciliation) -> None:
    """Raise if positions disagree.

    Raises:
        ReconciliationError: one line naming every symbol that differs.
    """
    if not result.consistent:
        drift = "; ".join(
            f"{m.symbol}: ours {m.ours}, broker {m.broker}" for m in result.mismatches
        )
        raise ReconciliationError(
            f"refusing to trade: positions differ from the broker ({drift}); "
            "flatten or fix them at the broker, then restart"
        )
